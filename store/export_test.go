package store

import (
	"encoding/hex"

	"github.com/dgraph-io/badger/v4"
)

type badgerTxn = badger.Txn

func hexKey(k []byte) string { return hex.EncodeToString(k) }
