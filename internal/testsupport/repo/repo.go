// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

// Package repo finds the repository and reads its line-oriented data files;
// it depends on nothing else of the project, so anything may use it.
package repo // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/repo"

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
)

// Root is the repository root: the nearest directory up from the working
// directory that holds builder-config.yaml.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "builder-config.yaml")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("repository root (builder-config.yaml) not found above " + wd)
		}
	}
}

// ReadLines reads the non-empty lines of a file.
func ReadLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out, sc.Err()
}
