package gateway

import (
	"errors"
	"fmt"
)

// DefaultErrorReply is the reply text, for a cataloger reading Connexion's
// "Gateway Export Status" window, for each failure the Server answers
// itself (see Server.ErrorReply). Each reply starts with "Error: ", says
// what happened and whether anything was imported, and what to do next.
func DefaultErrorReply(err error) string {
	var pe *ProtocolError
	var le *LimitError
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("Error: the export could not be read: %s (byte %d). Nothing was imported. "+
			"Check the Gateway export settings (host, port, login) and export again; "+
			"if it happens again, tell your systems office.\n", pe.Msg, pe.Offset)
	case errors.Is(err, ErrTooLarge):
		limit := ""
		if errors.As(err, &le) {
			limit = fmt.Sprintf(" (%d bytes)", le.Limit)
		}
		return "Error: the export is larger than this server accepts" + limit + ". Nothing was imported. " +
			"Export fewer records at a time.\n"
	case errors.Is(err, ErrTooManyRecords):
		limit := "the number of records"
		if errors.As(err, &le) {
			limit = fmt.Sprintf("%d records", le.Limit)
		}
		return "Error: the export holds more than " + limit + ", the most this server accepts at once. " +
			"Nothing was imported. Export fewer records at a time.\n"
	case errors.Is(err, ErrBusy):
		return "Error: the server is busy. Nothing was imported. Please try again in a minute.\n"
	case errors.Is(err, ErrReadTimeout):
		return "Error: the export did not arrive completely in time. Nothing was imported. Please export again.\n"
	case errors.Is(err, ErrIncomplete):
		return "Error: the export ended before the record was complete. Nothing was imported. Please export again.\n"
	case errors.Is(err, ErrHandlerPanic):
		return "Error: the server failed while importing this export, so it may or may not have been saved. " +
			"Do not export it again: tell your systems office, who can check.\n"
	}
	return "Error: the export failed. Tell your systems office before exporting again.\n"
}
