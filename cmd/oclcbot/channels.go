package main

import (
	"fmt"
	"log/slog"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/bot/listserv"
	"github.com/oclcbot/oclcbot/bot/webhook"
	"github.com/oclcbot/oclcbot/config"
)

// Channel names: they key the outbox, so they must not change between
// releases.
const (
	chanLog      = "log"
	chanListserv = "listserv"
	chanReport   = "ois"
	chanWebhook  = "webhook"
)

// channelConfigs returns the notification channels the configuration
// names, in a fixed order: log, listserv, ois (the report email),
// webhook. With deliver false the channels are configured for routing
// and rendering only (the incident commands: the daemon delivers what
// they queue); otherwise each has its sender. The senders hold no
// connection between sends, so there is nothing to close.
func channelConfigs(cfg *config.Config, log *slog.Logger, deliver bool) ([]bot.ChannelConfig, error) {
	var out []bot.ChannelConfig
	if *cfg.Bot.LogChannel {
		c := bot.LogChannelConfig(log)
		c.Name = chanLog
		c.Admin = true
		if !deliver {
			c.Channel = nil
		}
		out = append(out, c)
	}
	mail := func(to []string) listserv.Config {
		e := cfg.Email
		return listserv.Config{
			Addr:     e.Addr,
			Security: e.Security,
			Username: e.Username,
			Password: e.Password.Reveal(),
			Auth:     e.Auth,
			From:     e.From,
			To:       to,
			Domain:   e.Domain,
			HELO:     e.HELO,
			Timeout:  e.Timeout.D(),
			CAFile:   e.CAFile,
			Location: cfg.Bot.Location(),
			Logger:   log,
		}
	}
	if len(cfg.Listserv.To) > 0 {
		c := bot.ChannelConfig{Name: chanListserv, Templates: bot.FamilyEmail, AwaitEcho: cfg.Listserv.AwaitEcho}
		if deliver {
			ch, err := listserv.New(mail(cfg.Listserv.To))
			if err != nil {
				return nil, fmt.Errorf("[email] for listserv.to: %w", err)
			}
			c.Channel = ch
		}
		out = append(out, c)
	}
	if len(cfg.Report.To) > 0 {
		c := bot.ChannelConfig{Name: chanReport, Templates: bot.FamilyReport, Admin: true}
		if deliver {
			ch, err := listserv.NewReport(mail(cfg.Report.To))
			if err != nil {
				return nil, fmt.Errorf("[email] for report.to: %w", err)
			}
			c.Channel = ch
		}
		out = append(out, c)
	}
	if cfg.Report.WebhookURL != "" {
		c := bot.ChannelConfig{Name: chanWebhook, Templates: bot.FamilyReport}
		if deliver {
			ch, err := webhook.New(webhook.Config{URL: cfg.Report.WebhookURL, Secret: cfg.Report.WebhookSecret.Reveal()})
			if err != nil {
				return nil, fmt.Errorf("report.webhook_url, report.webhook_secret: %w", err)
			}
			c.Channel = ch
		}
		out = append(out, c)
	}
	return out, nil
}
