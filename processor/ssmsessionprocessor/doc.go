// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package ssmsessionprocessor tags AWS SSM StartSession CloudTrail events in
// log pipelines and decides, in the stream, whether the identity behind each
// session is seen for the first time (Elastic's new_terms rule, in-stream).
//
//go:generate make -C ../.. generate
package ssmsessionprocessor // import "github.com/cloudtrail-detect/ssmsession/processor/ssmsessionprocessor"
