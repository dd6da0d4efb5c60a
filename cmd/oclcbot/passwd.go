package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/oclcbot/oclcbot/receiver"
)

func runPasswd(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "passwd", "[-user NAME]", `
Hash a password for an [[accounts]] entry of the configuration. On a
terminal the password is asked twice without echo; otherwise the first line
of standard input is the password. Prints the TOML to paste into the
configuration; the password itself is never printed or stored.`)
	user := fs.String("user", "", "the account's Login ID, to print a whole [[accounts]] entry")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	h, err := receiver.HashPassword(pw)
	if err != nil {
		return err
	}
	if *user != "" {
		fmt.Fprintf(e.stdout, "[[accounts]]\nuser = %q\npassword_hash = %q\n", *user, h)
	} else {
		fmt.Fprintf(e.stdout, "password_hash = %q\n", h)
	}
	return nil
}

// readPassword asks twice on a terminal, or reads one line from a pipe.
func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(e.stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.stderr)
			return string(b), err
		}
		a, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		b, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if a != b {
			return "", errors.New("the two passwords differ")
		}
		return a, nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
