package access

import "errors"

// Sentinel errors returned (wrapped with context) by this package. Test for
// them with errors.Is.
var (
	// ErrMalformed reports input that is truncated, has trailing bytes, an
	// unknown version, undefined bits, or is otherwise not a canonical encoding.
	ErrMalformed = errors.New("access: malformed encoding")
	// ErrTooLarge reports an encoding over MaxTokenSize (or a link over MaxLinkSize).
	ErrTooLarge = errors.New("access: too large")
	// ErrChainTooDeep reports a delegation chain longer than MaxDepth.
	ErrChainTooDeep = errors.New("access: delegation chain too deep")
	// ErrExpired reports a token used after Expiry+Skew.
	ErrExpired = errors.New("access: token expired")
	// ErrNotYetValid reports a token used before NotBefore-Skew.
	ErrNotYetValid = errors.New("access: token not yet valid")
	// ErrWrongDocument reports a token for another document.
	ErrWrongDocument = errors.New("access: token for another document")
	// ErrWrongAudience reports a token presented by a key it was not issued to.
	ErrWrongAudience = errors.New("access: token issued to another key")
	// ErrBrokenChain reports a child whose issuer is not its parent's audience.
	ErrBrokenChain = errors.New("access: issuer is not the parent's audience")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("access: bad signature")
	// ErrRightsEscalation reports a child granting rights its parent lacks.
	ErrRightsEscalation = errors.New("access: rights broader than the parent's")
	// ErrLifetimeEscalation reports a child valid outside its parent's lifetime.
	ErrLifetimeEscalation = errors.New("access: lifetime beyond the parent's")
	// ErrUnknownRoot reports a root token not issued by the document's root key.
	ErrUnknownRoot = errors.New("access: root token not issued by the document root key")
	// ErrRevoked reports a token, or a key in its chain, that has been revoked.
	ErrRevoked = errors.New("access: revoked")
	// ErrInsufficientRights reports a valid token whose rights do not cover an action.
	ErrInsufficientRights = errors.New("access: insufficient rights")
	// ErrIrrevocable reports a revocation of the document's root key, which no
	// one may revoke.
	ErrIrrevocable = errors.New("access: root key cannot be revoked")
	// ErrBadLink reports a string that is not a quire://join/ link.
	ErrBadLink = errors.New("access: not an invite link")
)
