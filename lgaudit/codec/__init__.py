"""Values encoded into content-addressed blobs and back: the safe serializer, caches, views."""
