package server

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
)

// SettleOptions lists what [SettleHandler] settles and reports.
type SettleOptions struct {
	// HTTPClients are the provider clients whose idle keep-alive
	// connections are closed (serve shares one client between the models
	// and the vector-store manager).
	HTTPClients []*http.Client
	// DBs are reported (connections open, in use, idle); with
	// SetMaxOpenConns(1) there is at most one.
	DBs []*sql.DB
}

// SettleReport is the JSON answer of POST /debug/settle.
type SettleReport struct {
	// HTTPClients is how many clients had their idle connections closed.
	HTTPClients int `json:"http_clients"`
	// OpenFDsBefore and OpenFDsAfter count this process's open file
	// descriptors around the close (Linux /proc/self/fd; -1 elsewhere);
	// the difference is what was closed.
	OpenFDsBefore int `json:"open_fds_before"`
	OpenFDsAfter  int `json:"open_fds_after"`
	Closed        int `json:"closed_fds"`
	// SQLite are the databases' pool stats after settling.
	SQLite []DBStats `json:"sqlite"`
}

// DBStats is a database pool's state.
type DBStats struct {
	MaxOpen int `json:"max_open_connections"`
	Open    int `json:"open_connections"`
	InUse   int `json:"in_use"`
	Idle    int `json:"idle"`
}

// SettleHandler serves POST /debug/settle: it closes the idle keep-alive
// connections of the provider HTTP clients, so a harness counting file
// descriptors after a run sees only what is really held (a pooled idle
// socket is not a leak, but is indistinguishable from one by count). Other
// methods get 405. Connections in use are never touched.
func SettleHandler(o SettleOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		rep := SettleReport{OpenFDsBefore: openFDs(), SQLite: []DBStats{}}
		for _, c := range o.HTTPClients {
			if c != nil {
				c.CloseIdleConnections()
				rep.HTTPClients++
			}
		}
		rep.OpenFDsAfter = openFDs()
		if rep.OpenFDsBefore >= 0 && rep.OpenFDsAfter >= 0 {
			rep.Closed = max(0, rep.OpenFDsBefore-rep.OpenFDsAfter)
		}
		for _, db := range o.DBs {
			if db == nil {
				continue
			}
			st := db.Stats()
			rep.SQLite = append(rep.SQLite, DBStats{MaxOpen: st.MaxOpenConnections, Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep) // a client gone away is not our problem
	})
}

// openFDs counts this process's open file descriptors, or -1 where it cannot.
func openFDs() int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read holds one
}
