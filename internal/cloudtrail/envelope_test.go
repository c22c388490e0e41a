package cloudtrail

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitEnvelope(t *testing.T) {
	for name, tc := range map[string]struct {
		body   string
		events []string
		ok     bool
	}{
		"compact":      {`{"Records":[{"a":1},{"b":"x"}]}`, []string{`{"a":1}`, `{"b":"x"}`}, true},
		"pretty":       {"{\n  \"Records\" : [\n    {\"a\": [1, 2]} ,\n\t{\"b\": {}}\n  ]\n}\n", []string{`{"a": [1, 2]}`, `{"b": {}}`}, true},
		"tricky text":  {`{"Records":[{"reason":"a ] } [ { , \" \\"},{"x":"\u005d"}]}`, []string{`{"reason":"a ] } [ { , \" \\"}`, `{"x":"\u005d"}`}, true},
		"scalars":      {`{"Records":[1,"two",null,true]}`, []string{"1", `"two"`, "null", "true"}, true},
		"empty":        {`{"Records":[]}`, nil, true},
		"more keys":    {`{"Records":[{"a":1}],"Digest":"x"}`, []string{`{"a":1}`}, true},
		"not first":    {`{"Digest":"x","Records":[{"a":1}]}`, nil, false},
		"truncated":    {`{"Records":[{"a":1},{"b":`, nil, false},
		"not an array": {`{"Records":{"a":1}}`, nil, false},
		"invalid":      {`{"Records":[{a:1}]}`, nil, false},
		"plain event":  {`{"eventSource":"ssm.amazonaws.com"}`, nil, false},
	} {
		events, ok := SplitEnvelope(tc.body)
		assert.Equal(t, tc.ok, ok, name)
		assert.Equal(t, tc.events, events, name)
	}
}
