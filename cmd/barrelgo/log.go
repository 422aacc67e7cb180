package main

import (
	"io"
	"log/slog"
	"os"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// demoLogger shows warnings (and everything with BARRELGO_DEBUG set).
func demoLogger(w io.Writer) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv(envDebug) != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
