package sfsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// decodeBody decodes a JSON request body into v, with Salesforce's
// JSON_PARSER_ERROR messages (Jackson wording, line and column).
func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errJSON("The HTTP entity body is required, but this request has no entity body.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			off := int(dec.InputOffset())
			return errJSON(fmt.Sprintf("Unexpected character after the JSON value at %s", position(body, off)))
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		if off >= len(body) {
			return errJSON(fmt.Sprintf("Unexpected end-of-input: expected close marker at %s", position(body, len(body))))
		}
		r, _ := utf8.DecodeRune(body[off:])
		return errJSON(fmt.Sprintf("Unexpected character ('%c' (code %d)): expected a valid value (number, String, array, object, 'true', 'false' or 'null') at %s", r, r, position(body, off)))
	case errors.As(err, &te):
		return errJSON(fmt.Sprintf("Cannot deserialize instance of `%s` out of %s token at %s", te.Type, tokenName(te.Value), position(body, int(te.Offset))))
	}
	return errJSON("Unexpected end-of-input at " + position(body, len(body)))
}

func tokenName(v string) string {
	switch v {
	case "object":
		return "START_OBJECT"
	case "array":
		return "START_ARRAY"
	case "string":
		return "VALUE_STRING"
	case "bool":
		return "VALUE_TRUE"
	}
	return "VALUE_NUMBER_INT"
}

// position renders a byte offset as Jackson's "[line:L, column:C]".
func position(b []byte, off int) string {
	if off > len(b) {
		off = len(b)
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Sprintf("[line:%d, column:%d]", line, col)
}
