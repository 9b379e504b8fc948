package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// pcCredentials admits a PC's certificate only while it is the PC's current one and not revoked, as migration-api
// keeps them (node_credentials; the dev server's gate applies the same rule: domain/gate-admission.ts). Answers are
// kept for `ttl`, so a revocation cuts a PC off within it, open connections included (every call is checked).
type pcCredentials struct {
	db  *sql.DB
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]cachedRefusal
}

type cachedRefusal struct {
	refusal string
	at      time.Time
}

func newPcCredentials(databaseURL string, ttl time.Duration) (*pcCredentials, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return &pcCredentials{db: db, ttl: ttl, cache: map[string]cachedRefusal{}}, nil
}

func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Refusal says why the PC's certificate may not pass now, or "" when it may.
func (c *pcCredentials) Refusal(pc string, cert *x509.Certificate) string {
	key := pc + "/" + fingerprint(cert)
	c.mu.Lock()
	hit, ok := c.cache[key]
	c.mu.Unlock()
	if ok && time.Since(hit.at) < c.ttl {
		return hit.refusal
	}
	refusal := c.lookUp(pc, fingerprint(cert))
	c.mu.Lock()
	c.cache[key] = cachedRefusal{refusal: refusal, at: time.Now()}
	c.mu.Unlock()
	return refusal
}

func (c *pcCredentials) lookUp(pc, print string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var current sql.NullString
	var revokedAt sql.NullTime
	err := c.db.QueryRowContext(ctx,
		"SELECT cert_sha256, revoked_at FROM node_credentials WHERE node_id = $1", pc).Scan(&current, &revokedAt)
	switch {
	case err == sql.ErrNoRows:
		return fmt.Sprintf("PC %s has no credential", pc)
	case err != nil:
		return fmt.Sprintf("cannot check the credential of PC %s: %v", pc, err)
	case revokedAt.Valid:
		return fmt.Sprintf("the credential of PC %s was revoked at %s", pc, revokedAt.Time.UTC().Format(time.RFC3339))
	case !current.Valid || current.String != print:
		return fmt.Sprintf("this is not the current certificate of PC %s", pc)
	}
	return ""
}
