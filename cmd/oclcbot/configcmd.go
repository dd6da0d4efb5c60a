package main

import (
	"context"
	"fmt"

	"github.com/BurntSushi/toml"

	"github.com/oclcbot/oclcbot/receiver"
	"github.com/oclcbot/oclcbot/templates"
)

func runConfig(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "config", "check|show [-config FILE]", `
check  reads the configuration, checks every setting, the *_file secrets
       and the template overrides, and says what is wrong (all of it).
show   prints the configuration in effect, defaults filled in, with every
       password and token shown as <redacted>.`)
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		if err := parseFlags(e, fs, args); err != nil {
			return err
		}
		fs.Usage()
		return errUsage
	}
	sub := args[0]
	cfgPath := configFlag(fs)
	if err := parseFlags(e, fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		return toml.NewEncoder(e.stdout).Encode(cfg)
	default:
		if err := receiver.CheckListenerSecurity(cfg.Listener.Addr, len(cfg.Accounts)); err != nil {
			return err
		}
		tmpl, err := templates.Load(cfg.Templates.Dir)
		if err != nil {
			return err
		}
		if err := tmpl.Check(allTemplateSamples()); err != nil {
			return err
		}
		name := *cfgPath
		if name == "" {
			name = "built-in defaults"
		}
		fmt.Fprintf(e.stdout, "%s: OK\n", name)
		return nil
	}
}
