#!/usr/bin/env bash
# The bounded version of tests/soak/operator_load.sh for make test: 64
# clients with their own keys (3 requests per minute each, so that even a
# loaded machine reaches the edge) for 12 seconds
# (make soak runs it for 5 minutes).
exec bash "$(dirname "$0")/../soak/operator_load.sh" 12 64 3
