#!/usr/bin/env bash
# What the TinyShapes reference scripts need, from Debian (see tools/install-deps.sh: the "ref" set).
exec "$(dirname "$0")/../../tools/install-deps.sh" ref
