// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package testsupport holds what only tests, benchmarks and the demo use:
// event corpora and generators, the input shapes, golden files, test
// clocks, storage and Redis fixtures, a runner for the built collector,
// and the stock transform configurations benchmarks compare with. Nothing
// under it is linked into the components.
package testsupport // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport"
