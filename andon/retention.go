package andon

import (
	"context"
	"time"
)

// PruneAlerts deletes alert records received before before that no open andon references.
func (s *SQLite) PruneAlerts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.do(ctx, func(tx *wconn) error {
		var err error
		n, err = tx.execN(`DELETE FROM alerts WHERE received_ms < ?
			AND (andon_id = '' OR NOT EXISTS (SELECT 1 FROM andons WHERE andons.id = alerts.andon_id AND andons.status = 'open'))`, before.UnixMilli())
		return err
	})
	return n, err
}
