"""`make bench`: the learning path's speed and memory at growing sizes (issue 11, SPEC §11)."""
