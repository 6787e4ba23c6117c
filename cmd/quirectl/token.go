package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/quire-dev/quire/cmd/internal/cli"
	"github.com/quire-dev/quire/crdt/access"
)

// tokenCommand is "quirectl token": capability tokens, invite links and
// revocation records, one sub-subcommand each (see tokenUsage).
func tokenCommand() *command {
	return &command{
		name:     "token",
		synopsis: "<issue|inspect|verify|revoke|invite|accept> [flags] [args]",
		summary:  "issue, inspect, verify and revoke tokens; create and accept invite links",
		detail:   "Run 'quirectl token' for the list of token commands and 'quirectl token <command> -h' for one's flags.",
		main: func(_ context.Context, e env, _ any, args []string) int {
			return runToken(tokenEnv{stdout: e.stdout, stderr: e.stderr, now: time.Now, rand: rand.Reader}, args)
		},
	}
}

// tokenEnv is what the token commands take from the process, injected so
// tests run them with a fixed clock and seeded randomness.
type tokenEnv struct {
	stdout, stderr io.Writer
	now            func() time.Time
	rand           io.Reader
}

// tokenCommands are the subcommands of "quirectl token".
var tokenCommands = map[string]func(env tokenEnv, args []string) int{
	"issue":   tokenIssue,
	"inspect": tokenInspect,
	"verify":  tokenVerify,
	"revoke":  tokenRevoke,
	"invite":  tokenInvite,
	"accept":  tokenAccept,
}

const tokenUsage = `usage: quirectl token <command> [flags]

Capability tokens, invite links and revocation records (package crdt/access).
Keys are PEM PKCS #8 Ed25519 private key files (like a data directory's
identity.key); public keys are given as 64 hex digits or as such a file.
Tokens and records are stored as one line of unpadded base64url.

commands:
  issue    sign a token for a key, as a root token or delegated from -parent
  inspect  print a token's chain (no checks)
  verify   check a token against a document, root key, audience and time
  revoke   sign a revocation record for a token or a key
  invite   create an invite link from a proof
  accept   accept an invite link for a device key
`

// runToken runs "quirectl token args...".
func runToken(env tokenEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(env.stderr, tokenUsage)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	cmd, ok := tokenCommands[args[0]]
	if !ok {
		return cli.Usagef(env.stderr, "quirectl token", "unknown command %q", args[0])
	}
	return cmd(env, args[1:])
}

// fail prints err for command name and returns ExitError.
func (env tokenEnv) fail(name string, err error) int {
	fmt.Fprintf(env.stderr, "quirectl token %s: %v\n", name, err)
	return cli.ExitError
}

// readPrivateKey reads a PEM PKCS #8 Ed25519 private key file.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM PRIVATE KEY block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an Ed25519 key", path, parsed)
	}
	return key, nil
}

// readPublicKey parses 64 hex digits, or reads a private key file and
// returns its public half.
func readPublicKey(s string) (access.Key, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return access.Key(b), nil
	}
	priv, err := readPrivateKey(s)
	if err != nil {
		return access.Key{}, fmt.Errorf("public key %q: not 64 hex digits, nor a key file: %w", s, err)
	}
	return access.PublicKeyOf(priv), nil
}

var textEnc = base64.RawURLEncoding

// readBlob reads a base64url text file ("-" is not supported: files only).
func readBlob(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := textEnc.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not base64url: %w", path, err)
	}
	return b, nil
}

func readToken(path string) (*access.Token, error) {
	b, err := readBlob(path)
	if err != nil {
		return nil, err
	}
	tok, err := access.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

// writeBlob writes b as base64url text to path, or to stdout if path is "".
func (env tokenEnv) writeBlob(path string, b []byte) error {
	line := textEnc.EncodeToString(b) + "\n"
	if path == "" {
		_, err := io.WriteString(env.stdout, line)
		return err
	}
	return os.WriteFile(path, []byte(line), 0o600)
}

// parseTime parses RFC 3339, or "now" (env.now()).
func (env tokenEnv) parseTime(s string) (time.Time, error) {
	if s == "" || s == "now" {
		return env.now(), nil
	}
	return time.Parse(time.RFC3339, s)
}

// linkJSON is the -json form of one token link.
type linkJSON struct {
	ID                 string `json:"id"`
	Issuer             string `json:"issuer"`
	IssuerFingerprint  string `json:"issuer_fingerprint"`
	Audience           string `json:"audience"`
	AudienceFingerprnt string `json:"audience_fingerprint"`
	Doc                string `json:"doc"`
	Rights             string `json:"rights"`
	NotBefore          string `json:"not_before"`
	Expiry             string `json:"expiry"`
}

// chainJSON returns tok's links, root first.
func chainJSON(tok *access.Token) []linkJSON {
	var out []linkJSON
	for t := tok; t != nil; t = t.Parent {
		out = append([]linkJSON{{
			ID:                 t.ID().String(),
			Issuer:             t.Issuer.String(),
			IssuerFingerprint:  access.Fingerprint(t.Issuer[:]),
			Audience:           t.Audience.String(),
			AudienceFingerprnt: access.Fingerprint(t.Audience[:]),
			Doc:                t.Doc.String(),
			Rights:             t.Rights.String(),
			NotBefore:          time.Unix(t.NotBefore, 0).UTC().Format(time.RFC3339),
			Expiry:             time.Unix(t.Expiry, 0).UTC().Format(time.RFC3339),
		}}, out...)
	}
	return out
}

func (env tokenEnv) printJSON(v any) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (env tokenEnv) printChain(tok *access.Token) {
	for i, l := range chainJSON(tok) {
		fmt.Fprintf(env.stdout, "link %d: %s -> %s  %s  %s .. %s\n  id %s\n",
			i+1, l.IssuerFingerprint, l.AudienceFingerprnt, l.Rights, l.NotBefore, l.Expiry, l.ID)
	}
	fmt.Fprintf(env.stdout, "document %s\n", tok.Doc)
}

func tokenIssue(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token issue", "-key file -to key -rights r [flags]",
		"Sign a token granting rights to a key: a root token (the key is the document's root key) or, with -parent, a delegation of the key's own token.", env.stderr)
	keyFile := fs.String("key", "", "issuer's private key `file`")
	parentFile := fs.String("parent", "", "`file` of the token being delegated (none: root token)")
	to := fs.String("to", "", "audience public `key`: hex or key file")
	docFlag := fs.String("doc", "", "document `id` (base32); defaults to the parent's")
	rightsFlag := fs.String("rights", "", "`rights`: read, comment, write or admin, optionally +relay, or relay")
	nbf := fs.String("not-before", "now", "start `time` (RFC 3339 or now)")
	life := fs.Duration("for", 24*time.Hour, "lifetime from -not-before")
	out := fs.String("o", "", "write the token to `file` instead of stdout")
	asJSON := fs.Bool("json", false, "print the issued chain as JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if *keyFile == "" || *to == "" || *rightsFlag == "" {
		return cli.Usagef(env.stderr, "quirectl token issue", "-key, -to and -rights are required")
	}
	tok, err := func() (*access.Token, error) {
		priv, err := readPrivateKey(*keyFile)
		if err != nil {
			return nil, err
		}
		aud, err := readPublicKey(*to)
		if err != nil {
			return nil, err
		}
		rights, err := access.ParseRights(*rightsFlag)
		if err != nil {
			return nil, err
		}
		start, err := env.parseTime(*nbf)
		if err != nil {
			return nil, err
		}
		g := access.Grant{Audience: aud, Rights: rights, NotBefore: start, Expiry: start.Add(*life)}
		var parent *access.Token
		if *parentFile != "" {
			if parent, err = readToken(*parentFile); err != nil {
				return nil, err
			}
			g.Doc = parent.Doc
		}
		if *docFlag != "" {
			if g.Doc, err = access.ParseDocID(*docFlag); err != nil {
				return nil, err
			}
		} else if parent == nil {
			return nil, errors.New("-doc is required for a root token")
		}
		return access.Issue(parent, priv, g, env.rand)
	}()
	if err != nil {
		return env.fail("issue", err)
	}
	return env.emitToken("issue", tok, *out, *asJSON)
}

// emitToken writes tok to out (or stdout) and, with asJSON, its chain.
func (env tokenEnv) emitToken(name string, tok *access.Token, out string, asJSON bool) int {
	if asJSON {
		v := struct {
			Token string     `json:"token"`
			Chain []linkJSON `json:"chain"`
		}{textEnc.EncodeToString(tok.Encode()), chainJSON(tok)}
		if out != "" {
			if err := env.writeBlob(out, tok.Encode()); err != nil {
				return env.fail(name, err)
			}
		}
		if err := env.printJSON(v); err != nil {
			return env.fail(name, err)
		}
		return cli.ExitOK
	}
	if err := env.writeBlob(out, tok.Encode()); err != nil {
		return env.fail(name, err)
	}
	if out != "" {
		env.printChain(tok)
	}
	return cli.ExitOK
}

func tokenInspect(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token inspect", "[-json] token-file",
		"Print a token's chain, root first, without checking it.", env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return cli.Usagef(env.stderr, "quirectl token inspect", "want one token file")
	}
	tok, err := readToken(fs.Arg(0))
	if err != nil {
		return env.fail("inspect", err)
	}
	if *asJSON {
		if err := env.printJSON(chainJSON(tok)); err != nil {
			return env.fail("inspect", err)
		}
		return cli.ExitOK
	}
	env.printChain(tok)
	return cli.ExitOK
}

func tokenVerify(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token verify", "-root key -as key [flags] token-file",
		"Check a token's whole chain; exit status 1 if it is not valid.", env.stderr)
	root := fs.String("root", "", "document root public `key`: hex or key file")
	as := fs.String("as", "", "audience public `key` presenting the token: hex or key file")
	docFlag := fs.String("doc", "", "document `id` (base32); defaults to the token's")
	at := fs.String("at", "now", "`time` to check at (RFC 3339 or now)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 || *root == "" || *as == "" {
		return cli.Usagef(env.stderr, "quirectl token verify", "want -root, -as and one token file")
	}
	tok, err := readToken(fs.Arg(0))
	if err != nil {
		return env.fail("verify", err)
	}
	p := access.VerifyParams{Doc: tok.Doc}
	if p.Root, err = readPublicKey(*root); err != nil {
		return env.fail("verify", err)
	}
	if p.Audience, err = readPublicKey(*as); err != nil {
		return env.fail("verify", err)
	}
	if *docFlag != "" {
		if p.Doc, err = access.ParseDocID(*docFlag); err != nil {
			return env.fail("verify", err)
		}
	}
	if p.Now, err = env.parseTime(*at); err != nil {
		return env.fail("verify", err)
	}
	rights, verr := access.Verify(tok, p)
	if *asJSON {
		v := struct {
			Valid  bool   `json:"valid"`
			Rights string `json:"rights,omitempty"`
			Error  string `json:"error,omitempty"`
		}{Valid: verr == nil}
		if verr == nil {
			v.Rights = rights.String()
		} else {
			v.Error = verr.Error()
		}
		if err := env.printJSON(v); err != nil {
			return env.fail("verify", err)
		}
	} else if verr == nil {
		fmt.Fprintf(env.stdout, "valid: %s on %s for %s\n", rights, p.Doc, access.Fingerprint(p.Audience[:]))
	} else {
		fmt.Fprintf(env.stdout, "invalid: %v\n", verr)
	}
	if verr != nil {
		return cli.ExitError
	}
	return cli.ExitOK
}

func tokenRevoke(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token revoke", "-key file -proof file (-token file | -token-id hex | -device key) [flags]",
		"Sign a record revoking a token (and everything delegated from it) or a device key. The revoker's proof must grant admin.", env.stderr)
	keyFile := fs.String("key", "", "revoker's private key `file`")
	proofFile := fs.String("proof", "", "revoker's admin token `file`")
	tokenFile := fs.String("token", "", "token `file` to revoke")
	tokenID := fs.String("token-id", "", "`id` (hex) of the token to revoke")
	device := fs.String("device", "", "device public `key` to revoke: hex or key file")
	out := fs.String("o", "", "write the record to `file` instead of stdout")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	n := 0
	for _, s := range []string{*tokenFile, *tokenID, *device} {
		if s != "" {
			n++
		}
	}
	if *keyFile == "" || *proofFile == "" || n != 1 {
		return cli.Usagef(env.stderr, "quirectl token revoke", "want -key, -proof and exactly one of -token, -token-id, -device")
	}
	rec, err := func() (*access.Revocation, error) {
		priv, err := readPrivateKey(*keyFile)
		if err != nil {
			return nil, err
		}
		proof, err := readToken(*proofFile)
		if err != nil {
			return nil, err
		}
		kind, target := access.TargetToken, [32]byte{}
		switch {
		case *tokenFile != "":
			tok, err := readToken(*tokenFile)
			if err != nil {
				return nil, err
			}
			target = tok.ID()
		case *tokenID != "":
			b, err := hex.DecodeString(*tokenID)
			if err != nil || len(b) != len(target) {
				return nil, fmt.Errorf("-token-id %q: want 64 hex digits", *tokenID)
			}
			target = [32]byte(b)
		default:
			kind = access.TargetKey
			k, err := readPublicKey(*device)
			if err != nil {
				return nil, err
			}
			target = k
		}
		return access.Revoke(proof, priv, kind, target, env.now())
	}()
	if err != nil {
		return env.fail("revoke", err)
	}
	if *asJSON {
		v := struct {
			Record  string `json:"record"`
			ID      string `json:"id"`
			Kind    string `json:"kind"`
			Target  string `json:"target"`
			Revoker string `json:"revoker"`
			At      string `json:"at"`
		}{textEnc.EncodeToString(rec.Encode()), fmt.Sprintf("%x", rec.ID()), rec.Kind.String(),
			hex.EncodeToString(rec.Target[:]), rec.Revoker().String(), time.Unix(rec.At, 0).UTC().Format(time.RFC3339)}
		if *out != "" {
			if err := env.writeBlob(*out, rec.Encode()); err != nil {
				return env.fail("revoke", err)
			}
		}
		if err := env.printJSON(v); err != nil {
			return env.fail("revoke", err)
		}
		return cli.ExitOK
	}
	if err := env.writeBlob(*out, rec.Encode()); err != nil {
		return env.fail("revoke", err)
	}
	if *out != "" {
		fmt.Fprintf(env.stdout, "revokes %s %x by %s\n", rec.Kind, rec.Target[:], access.Fingerprint(rec.Proof.Audience[:]))
	}
	return cli.ExitOK
}

func tokenInvite(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token invite", "-key file -proof file -rights r [flags]",
		"Create an invite link granting rights (a subset of the proof's) to whoever opens it.", env.stderr)
	keyFile := fs.String("key", "", "holder's private key `file`")
	proofFile := fs.String("proof", "", "holder's token `file`")
	rightsFlag := fs.String("rights", "", "`rights` the invite grants")
	life := fs.Duration("for", 7*24*time.Hour, "how long the link can be used")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if *keyFile == "" || *proofFile == "" || *rightsFlag == "" {
		return cli.Usagef(env.stderr, "quirectl token invite", "-key, -proof and -rights are required")
	}
	inv, err := func() (*access.Invite, error) {
		priv, err := readPrivateKey(*keyFile)
		if err != nil {
			return nil, err
		}
		proof, err := readToken(*proofFile)
		if err != nil {
			return nil, err
		}
		rights, err := access.ParseRights(*rightsFlag)
		if err != nil {
			return nil, err
		}
		now := env.now()
		exp := min(now.Add(*life).Unix(), proof.Expiry)
		return access.NewInvite(proof, priv, access.Grant{Rights: rights, NotBefore: now, Expiry: time.Unix(exp, 0)}, env.rand)
	}()
	if err != nil {
		return env.fail("invite", err)
	}
	if *asJSON {
		v := struct {
			Link   string `json:"link"`
			Doc    string `json:"doc"`
			Rights string `json:"rights"`
			Expiry string `json:"expiry"`
		}{inv.String(), inv.Doc.String(), inv.Token.Rights.String(), time.Unix(inv.Token.Expiry, 0).UTC().Format(time.RFC3339)}
		if err := env.printJSON(v); err != nil {
			return env.fail("invite", err)
		}
		return cli.ExitOK
	}
	fmt.Fprintln(env.stdout, inv.String())
	return cli.ExitOK
}

func tokenAccept(env tokenEnv, args []string) int {
	fs := cli.NewFlagSet("quirectl token accept", "-key file [flags] link",
		"Accept an invite link: issue, with the link's key, a token to this device.", env.stderr)
	keyFile := fs.String("key", "", "device's private key `file` (only its public half is used)")
	out := fs.String("o", "", "write the token to `file` instead of stdout")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, done := cli.Parse(fs, args); done {
		return code
	}
	if *keyFile == "" || fs.NArg() != 1 {
		return cli.Usagef(env.stderr, "quirectl token accept", "want -key and one link")
	}
	priv, err := readPrivateKey(*keyFile)
	if err != nil {
		return env.fail("accept", err)
	}
	tok, err := access.Accept(fs.Arg(0), priv.Public().(ed25519.PublicKey), env.now(), env.rand)
	if err != nil {
		return env.fail("accept", err)
	}
	return env.emitToken("accept", tok, *out, *asJSON)
}
