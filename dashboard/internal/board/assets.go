package board

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The page: hand-written HTML, JavaScript and CSS, embedded, with no build
// step and nothing fetched from elsewhere, so it works offline. Every URL
// in it is relative, so the board can be mounted under any prefix.
//
//go:embed assets
var assetFS embed.FS

type asset struct {
	body  []byte
	etag  string
	ctype string
}

var assets = func() map[string]asset {
	m := map[string]asset{}
	entries, err := assetFS.ReadDir("assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		m[e.Name()] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
	}
	return m
}()

// pageCSP allows the page its own scripts, styles and stream, and nothing
// else: no inline script, no other origin, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if strings.HasSuffix(name, ".html") {
		h.Set("Content-Security-Policy", pageCSP)
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
