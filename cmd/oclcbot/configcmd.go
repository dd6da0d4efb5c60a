package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/BurntSushi/toml"

	"github.com/oclcbot/oclcbot/config"
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
		shown := *cfg
		shown.Report.WebhookURL = redactURL(cfg.Report.WebhookURL)
		return toml.NewEncoder(e.stdout).Encode(&shown)
	default:
		if err := checkSetup(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
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

// checkListener refuses a listener off loopback without accounts.
func checkListener(cfg *config.Config) error {
	if err := receiver.CheckListenerSecurity(cfg.Listener.Addr, len(cfg.Accounts)); err != nil {
		return fmt.Errorf("%w (add [[accounts]] with `oclcbot passwd`, or listen on 127.0.0.1)", err)
	}
	return nil
}

// checkSetup runs every check serve makes before it starts that needs
// neither the database nor the port (so that it can run beside the
// daemon): the listener's security, the templates against their sample
// data, the relay's reply patterns and the notification channels'
// settings (the webhook secret's length, the CA files).
func checkSetup(cfg *config.Config, log *slog.Logger) error {
	if err := checkListener(cfg); err != nil {
		return err
	}
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return err
	}
	if err := tmpl.Check(allTemplateSamples()); err != nil {
		return err
	}
	if cfg.Relay != nil {
		if _, err := relayPatterns(cfg.Relay); err != nil {
			return err
		}
	}
	_, err = channelConfigs(cfg, log, true)
	return err
}

// redactURL hides what a webhook URL may carry as a credential (the
// user information, the path and the query: chat and ticketing webhooks
// put their token there), keeping the scheme and host to show where the
// reports go.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	shown := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		shown += "/<redacted>"
	}
	return shown
}
