#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The token database test suite (tokendb.sh) against PostgreSQL: the same
# cases as with SQLite, on a real server that the suite starts itself.

TR_TOKENDB_ENGINE=postgresql exec bash "$(dirname "$0")/tokendb.sh" "$@"
