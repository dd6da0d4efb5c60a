// Package mailbox reads oclcbot's mailbox over IMAP and turns its mail
// into events for the bot's engine (bot.MailEvent, Engine.HandleMail).
//
// Classify decides what one message is: a staff failure report, an ACK
// or SOLVED reply to one of the bot's mails, a person's ALERT or SOLVED
// post to the listserv, the list's echo of the bot's own post, or mail to
// ignore (automatic replies, bounces, bulk mail, other lists, unrelated
// mail). It never answers mail.
//
// A Watcher keeps an IMAP session open (implicit TLS, STARTTLS, or clear
// text to a loopback server), waits with IDLE (NOOP polling when the
// server lacks IDLE), hands each new message to a Handler, records its
// UID in the database and moves it to a done folder. A watchdog closes a
// connection whose command hangs; every error leads to a reconnect after
// an exponential backoff with jitter. The folder's UIDVALIDITY, the last
// handled UID and the Message-IDs handled lately are kept in the
// project's SQLite database (tables mailbox_state and mailbox_seen), so a
// restart neither skips nor repeats a message.
package mailbox
