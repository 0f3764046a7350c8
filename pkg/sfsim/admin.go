package sfsim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// serveAdmin serves /__sfsim/ (not counted as API calls). It needs a bearer
// token only when Config.AdminToken is set.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	adminErr := func(status int, msg string) {
		s.write(w, jsonResp(status, map[string]string{"error": msg}))
	}
	if want := s.cfg.AdminToken; want != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			adminErr(http.StatusUnauthorized, "admin API: missing or wrong bearer token (SFSIM_ADMIN_TOKEN)")
			return
		}
	}
	switch r.URL.Path {
	case "/__sfsim/stats":
		if r.Method != http.MethodGet {
			adminErr(http.StatusMethodNotAllowed, "use GET")
			return
		}
		s.write(w, jsonResp(http.StatusOK, s.Stats()))
	case "/__sfsim/reset":
		if r.Method != http.MethodPost {
			adminErr(http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.Reset()
		s.write(w, jsonResp(http.StatusOK, map[string]bool{"reset": true}))
	case "/__sfsim/expire-sessions":
		if r.Method != http.MethodPost {
			adminErr(http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.write(w, jsonResp(http.StatusOK, map[string]int{"expired": s.expireSessions()}))
	case "/__sfsim/faults":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut:
			var f Faults
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil {
				adminErr(http.StatusBadRequest, "faults: "+err.Error())
				return
			}
			if err := f.validate(); err != nil {
				adminErr(http.StatusBadRequest, err.Error())
				return
			}
			s.SetFaults(f)
		default:
			adminErr(http.StatusMethodNotAllowed, "use GET or PUT")
			return
		}
		f := s.currentFaults()
		if f.Errors == nil {
			f.Errors = []string{}
		}
		s.write(w, jsonResp(http.StatusOK, f))
	default:
		adminErr(http.StatusNotFound, "unknown admin resource; see GET /__sfsim/stats, POST /__sfsim/reset, PUT /__sfsim/faults, POST /__sfsim/expire-sessions")
	}
}
