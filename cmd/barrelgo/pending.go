package main

import (
	"context"
	"errors"
	"io"
)

// Commands whose implementation lands with the operations work. Each file
// that implements one removes it from here.

var errNotYet = errors.New("not implemented yet")

func cmdKeys(context.Context, []string, io.Writer, io.Writer) error     { return errNotYet }
func cmdCert(context.Context, []string, io.Writer, io.Writer) error     { return errNotYet }
func cmdView(context.Context, []string, io.Writer, io.Writer) error     { return errNotYet }
func cmdServices(context.Context, []string, io.Writer, io.Writer) error { return errNotYet }
func cmdStatus(context.Context, []string, io.Writer, io.Writer) error   { return errNotYet }
func cmdDoctor(context.Context, []string, io.Writer, io.Writer) error   { return errNotYet }
