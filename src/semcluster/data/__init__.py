"""Survey data: reading, mapping, checking, clusters and labels, before anything is fitted."""
