package admin

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Admin requests are parsed exactly: a query that does not decode, a parameter
// the call does not take, an empty value, a repeated parameter, or a body
// where none is taken is a 400 that changes nothing. A request that parses
// loosely could name less than it means, and a DELETE that names less deletes
// more: "?upstream=" with a bad escape must not become "delete all".

// maxAdminBody bounds the JSON body of an id-carrying call.
const maxAdminBody = 64 << 10

// parseQuery decodes a raw query into one non-empty value per parameter,
// allowing only the parameters named.
func parseQuery(raw string, allowed ...string) (map[string]string, error) {
	if raw != "" && slices.Contains(strings.Split(raw, "&"), "") {
		// url.ParseQuery skips empty pairs, so "?&" would read as no query.
		return nil, apiError(http.StatusBadRequest, "malformed query %q: an empty parameter", raw)
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, apiError(http.StatusBadRequest, "malformed query %q: %v", raw, err)
	}
	params := make(map[string]string, len(values))
	for key, vals := range values {
		switch {
		case !slices.Contains(allowed, key):
			if len(allowed) == 0 {
				return nil, apiError(http.StatusBadRequest, "unknown parameter %q: this call takes none", key)
			}
			return nil, apiError(http.StatusBadRequest, "unknown parameter %q (allowed: %s)", key, strings.Join(allowed, ", "))
		case len(vals) > 1:
			return nil, apiError(http.StatusBadRequest, "parameter %q given %d times: give it once", key, len(vals))
		case vals[0] == "":
			return nil, apiError(http.StatusBadRequest, "empty %s: leave the parameter out or give it a value", key)
		}
		params[key] = vals[0]
	}
	return params, nil
}

// requireNoBody rejects a body on a call that takes none: a body meant to
// name one session must not reach a call that deletes them all. A body that
// is announced (Content-Length, Transfer-Encoding, Expect) counts as one
// whether or not its bytes arrive, and so does one that cannot be read: the
// request may be cut short, but what it declares is not a bare call.
func requireNoBody(r *http.Request) error {
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Header.Get("Expect") != "" {
		return errNoBody
	}
	if r.Body == nil {
		return nil
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n > 0 || err != nil {
		return errNoBody
	}
	return nil
}

var errNoBody = apiError(http.StatusBadRequest, "this call takes no body (one session is named by POST .../sessions/lookup or .../sessions/forget with {\"id\": \"...\"})")

// parseIDBody reads the body of an id-carrying call: exactly {"id": "<id>"}
// with a non-empty id. The id goes in the body, not the URL, because Caddy
// logs the URI of every admin request. Errors never quote the body, which
// holds the id.
func parseIDBody(r *http.Request) (string, error) {
	if r.Body == nil {
		return "", errIDBody
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return "", apiError(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(data) > maxAdminBody {
		return "", apiError(http.StatusRequestEntityTooLarge, "body over %d bytes", maxAdminBody)
	}
	// Token by token, so that a repeated "id" or anything beside it fails.
	dec := json.NewDecoder(bytes.NewReader(data))
	var id string
	for _, want := range []func(json.Token) bool{
		func(t json.Token) bool { return t == json.Delim('{') },
		func(t json.Token) bool { return t == "id" },
		func(t json.Token) bool { id, _ = t.(string); return id != "" },
		func(t json.Token) bool { return t == json.Delim('}') },
	} {
		tok, err := dec.Token()
		if err != nil || !want(tok) {
			return "", errIDBody
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errIDBody
	}
	return id, nil
}

var errIDBody = apiError(http.StatusBadRequest, `want a body {"id": "<session id>"} with a non-empty id and nothing else`)

// listQuery parses the query of a session listing.
func listQuery(r *http.Request) (sessionaffinity.PageQuery, error) {
	params, err := parseQuery(r.URL.RawQuery, "limit", "cursor", "upstream")
	if err != nil {
		return sessionaffinity.PageQuery{}, err
	}
	q := sessionaffinity.PageQuery{Limit: defaultPageLimit, Upstream: params["upstream"]}
	if v, ok := params["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return q, apiError(http.StatusBadRequest, "limit %q: want a number from 1 to %d", v, maxPageLimit)
		}
		q.Limit = n
	}
	if v, ok := params["cursor"]; ok {
		if q.After, ok = openCursor(v); !ok {
			return q, apiError(http.StatusBadRequest, "malformed cursor %q: pass next_cursor of the previous page as it is, from this Caddy process", v)
		}
	}
	return q, nil
}

// Cursors carry the place in the table where the next page starts (the
// table's own cursor, no session id). They travel in the query, which Caddy
// logs, and are sealed with a key this process makes at start: the log shows
// an opaque token, and only cursors this process handed out are taken.
var cursorAEAD = func() cipher.AEAD {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("making the admin cursor key: " + err.Error())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}()

func sealCursor(place string) string {
	nonce := make([]byte, cursorAEAD.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(cursorAEAD.Seal(nonce, nonce, []byte(place), nil))
}

func openCursor(cursor string) (place string, ok bool) {
	data, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(data) < cursorAEAD.NonceSize() {
		return "", false
	}
	nonce, sealed := data[:cursorAEAD.NonceSize()], data[cursorAEAD.NonceSize():]
	plain, err := cursorAEAD.Open(nil, nonce, sealed, nil)
	if err != nil || len(plain) == 0 {
		return "", false
	}
	return string(plain), true
}
