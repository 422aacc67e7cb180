package auth

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func readVector(name string) ([]byte, error) { return os.ReadFile(filepath.Join(vectorsDir, name)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func encodeHex(b []byte) string { return hex.EncodeToString(b) }
