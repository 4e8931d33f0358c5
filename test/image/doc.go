// Package image tests the container image `make image` builds (Dockerfile,
// issue 15) the way a user runs it: docker run with host networking, every
// setting from WEIR_* variables, a franz-go client producing and consuming.
// It prints container start (Docker's State.StartedAt) → first acknowledged
// produce and `docker run` → first ack. Build tag image: it needs Docker
// and the image (make test-image provides both).
package image
