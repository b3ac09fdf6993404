package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// DefaultMaxJSONBytes is the largest body [DecodeJSON] reads when its
// maxBytes is not positive: 64 KiB.
const DefaultMaxJSONBytes = 64 << 10

// DecodeJSON decodes the JSON value of r's body, at most maxBytes long
// (not positive: DefaultMaxJSONBytes), into v, refusing object fields that
// v does not have. Options.Start functions use it to read their requests;
// the handler reads resize bodies with it.
//
// It returns nil, or an *[APIError] whose message is written for the
// caller and never shows Go types nor the decoder's own text: 413
// "too_large" for a body past maxBytes, and 400 "bad_request" for an empty
// body, invalid JSON, a body cut short, a value of the wrong type or out of
// range (naming the field and what it must be), an unknown field (naming
// it), and data after the value. A v that is not a non-nil pointer is the
// caller's bug: DecodeJSON returns json's *InvalidUnmarshalError then,
// which the handler answers as 500.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxJSONBytes
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return badRequestError("the body has data after its JSON value")
	}
	return nil
}

// maxNameInMessage bounds the field names quoted in a message.
const maxNameInMessage = 64

// decodeError writes a message of ours for an error of json.Decoder.Decode.
func decodeError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		ie  *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &mbe):
		return &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("httpapi: request body larger than %d bytes", mbe.Limit)}
	case errors.As(err, &ie):
		return err
	case errors.Is(err, io.EOF):
		return badRequestError("the body is empty; a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequestError("the body ends before its JSON value does")
	case errors.As(err, &se):
		return badRequestError(fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset))
	case errors.As(err, &te):
		want := jsonKind(te.Type)
		if te.Field == "" {
			return badRequestError("the body must be " + want)
		}
		return badRequestError(fmt.Sprintf("field %s must be %s", quoteName(te.Field), want))
	}
	// The decoder reports an unknown field with an error of no type of its own.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return badRequestError("the body has an unknown field " + quoteName(name))
	}
	return badRequestError("the body could not be read as JSON")
}

func badRequestError(msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "httpapi: " + msg}
}

// quoteName quotes a field name for a message, cutting a long one.
func quoteName(name string) string {
	if len(name) > maxNameInMessage {
		name = name[:maxNameInMessage] + "..."
	}
	return strconv.Quote(name)
}

// jsonKind says in JSON's words what a value of Go type t must be.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return fmt.Sprintf("an integer from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		bits := t.Bits()
		return fmt.Sprintf("an integer from 0 to %d", ^uint64(0)>>(64-bits))
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON value"
}
