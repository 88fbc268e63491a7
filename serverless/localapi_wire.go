package serverless

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/wire"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data = []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, wire.ErrorBody{Error: msg})
}
