package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error in OpenAI's shape, with the HTTP status it is sent with.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

// badParam is a 400 naming the parameter at fault.
func badParam(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: &param,
		Message: fmt.Sprintf(format, args...)}
}

// newError is an error with a status, type and code but no parameter.
func newError(status int, typ, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Type: typ, Code: &code, Message: fmt.Sprintf(format, args...)}
}

// writeError sends e as {"error": {...}}.
func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]*apiError{"error": e})
}

// decodeError turns a JSON decoding error of the request body into a 4xx naming the field.
func decodeError(err error) *apiError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return newError(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
			"the request body exceeds the limit of %d bytes", tooBig.Limit)
	case errors.As(err, &syntax):
		return newError(http.StatusBadRequest, "invalid_request_error", "invalid_json",
			"the request body is not valid JSON: %v (at byte %d)", err, syntax.Offset)
	case errors.As(err, &typ):
		field := strings.TrimPrefix(typ.Field, "thinking.")
		return badParam(field, "%s: expected %s, got a JSON %s", field, typ.Type, typ.Value)
	}
	return newError(http.StatusBadRequest, "invalid_request_error", "invalid_json", "the request body is not valid JSON: %v", err)
}
