package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors matched by an [*APIError] with errors.Is.
var (
	// ErrUnauthorized: the API key is missing or wrong (401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: unknown endpoint, or a job that never existed or expired (404 or 410).
	ErrNotFound = errors.New("not found")
	// ErrTooLarge: the request body is over the server's limit (413).
	ErrTooLarge = errors.New("too large")
	// ErrRateLimited: the server's rate or queue limit was hit (429).
	ErrRateLimited = errors.New("rate limited")
)

// APIError is an error response from the server.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Message is the server's error message: the "error", "message",
	// "detail" or "title" field of a JSON body, or the body's text.
	Message string
	// Body is the response body (at most 64 KiB of it).
	Body []byte
}

// Error returns, e.g., "not found (404): job abc does not exist".
func (e *APIError) Error() string {
	s := fmt.Sprintf("%s (%d)", statusWords(e.StatusCode), e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches the sentinel errors by status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

func statusWords(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return ErrUnauthorized.Error()
	case http.StatusNotFound:
		return ErrNotFound.Error()
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge.Error()
	case http.StatusTooManyRequests:
		return ErrRateLimited.Error()
	}
	if t := http.StatusText(code); t != "" {
		return strings.ToLower(t)
	}
	return "http error"
}

const maxErrorBody = 64 << 10

// newAPIError builds an APIError from a status code and a response body.
func newAPIError(code int, body []byte) *APIError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	return &APIError{StatusCode: code, Message: errorMessage(body), Body: body}
}

// errorMessage finds the message in an error body: a JSON object's error,
// message, detail or title field, or the trimmed text (first line, at most
// 300 bytes).
func errorMessage(body []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"error", "message", "detail", "title"} {
			if msg := errorText(obj[k]); msg != "" {
				return msg
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
