package board

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// auth decides who may see the board: a request must name, in its Host
// header, an address the board may be reached at (against DNS rebinding:
// a page of another site that re-resolved its name to this machine still
// sends that name), and carry the token if there is one.
type auth struct {
	token   string
	cookie  string // the cookie's name: one per token, so that two boards on one host keep theirs
	allowed map[string]bool
}

func newAuth(token string, hosts []string) auth {
	a := auth{token: token, allowed: map[string]bool{"localhost": true}}
	for _, h := range hosts {
		a.allowed[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		a.cookie = "futures_dashboard_" + hex.EncodeToString(sum[:6])
	}
	return a
}

// hostAllowed reports whether r's Host names localhost, a loopback
// address, the address r came in on, or an allowed host.
func (a *auth) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if a.allowed[host] || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && ta.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// check passes a request that carries the token (or any request when
// there is none); otherwise it answers 401 and returns false. A page
// opened with the token in its URL gets it as a cookie, and is sent to the
// same URL without it, so that the token stays out of the history.
func (a *auth) check(w http.ResponseWriter, r *http.Request) bool {
	if a.token == "" {
		return true
	}
	if q := r.URL.Query().Get("token"); q != "" && a.equal(q) {
		http.SetCookie(w, &http.Cookie{
			Name:     a.cookie,
			Value:    a.token,
			Path:     mountPath(r) + "/",
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
		})
		if r.URL.Path == "/" || r.URL.Path == "" {
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: requestPath(r), RawQuery: q.Encode()}
			if r.URL.Path == "" {
				u.Path += "/"
			}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return false
		}
		return true
	}
	if c, err := r.Cookie(a.cookie); err == nil && a.equal(c.Value) {
		return true
	}
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.equal(b) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="futuresgen dashboard"`)
	http.Error(w, "401: this dashboard needs its token: open the URL it was announced with (…/?token=…)", http.StatusUnauthorized)
	return false
}

func (a *auth) equal(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(a.token)) == 1
}

// requestPath is the path the client asked for, before any StripPrefix,
// with one leading slash (a Location of "//host" would leave the site).
func requestPath(r *http.Request) string {
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.Path
	}
	return "/" + strings.TrimLeft(p, "/")
}

// mountPath is the prefix the board is mounted under ("" at the root,
// "/futures" under http.StripPrefix("/futures", …)).
func mountPath(r *http.Request) string {
	p := requestPath(r)
	if prefix, ok := strings.CutSuffix(p, r.URL.Path); ok {
		return strings.TrimSuffix(prefix, "/")
	}
	return ""
}

// redirectSlash sends a request for the mount prefix itself to the prefix
// with a slash, keeping the query (the token, say).
func redirectSlash(w http.ResponseWriter, r *http.Request) {
	u := url.URL{Path: requestPath(r) + "/", RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
}
