package main

import (
	"context"
	"fmt"
	"time"
)

// publisherDelay is how long after the subscriber the publisher starts in
// subscribe-before-announce.
const publisherDelay = 500 * time.Millisecond

// forwardWait bounds how long announce-subscribe waits, after the
// subscriber's SUBSCRIBE_OK, for the publisher to see the SUBSCRIBE.
const forwardWait = time.Second

// setupOnly: connect, exchange SETUP, close.
func setupOnly(ctx context.Context, c *caseRun) error {
	s, err := c.connect(ctx, "")
	if err != nil {
		return err
	}
	return s.close()
}

// announceOnly: PUBLISH_NAMESPACE answered by REQUEST_OK (PUBLISH_NAMESPACE_OK).
func announceOnly(ctx context.Context, c *caseRun) error {
	s, _, err := announce(ctx, c, "")
	if err != nil {
		return err
	}
	return s.close()
}

// publishNamespaceDone: announce, then withdraw the namespace (draft-17 on:
// cancel the request stream; before: PUBLISH_NAMESPACE_DONE), then close.
func publishNamespaceDone(ctx context.Context, c *caseRun) error {
	s, req, err := announce(ctx, c, "")
	if err != nil {
		return err
	}
	if err := s.withdraw(req); err != nil {
		return &failure{message: fmt.Sprintf("withdrawing the namespace: %v", err)}
	}
	return s.close()
}

// subscribeError: a SUBSCRIBE to a namespace nobody publishes is refused.
func subscribeError(ctx context.Context, c *caseRun) error {
	s, err := c.connect(ctx, "")
	if err != nil {
		return err
	}
	req, err := s.subscribe(ctx, missingNamespace, testTrack)
	if err != nil {
		return err
	}
	resp, err := req.response(ctx)
	if err != nil {
		return &failure{expected: "REQUEST_ERROR", received: received(ctx, err), message: err.Error()}
	}
	if !isRequestError(resp) {
		return &failure{expected: "REQUEST_ERROR", received: messageName(resp, s.version), message: "unexpected success: " + describe(resp, s.version)}
	}
	return s.close()
}

// announceSubscribe: a subscriber's SUBSCRIBE reaches the publisher that
// announced the namespace and is accepted.
func announceSubscribe(ctx context.Context, c *caseRun) error {
	pub, _, err := announce(ctx, c, "publisher")
	if err != nil {
		return err
	}
	sub, err := c.connect(ctx, "subscriber")
	if err != nil {
		return err
	}
	req, err := sub.subscribe(ctx, testNamespace, testTrack)
	if err != nil {
		return err
	}
	resp, err := req.response(ctx)
	if err != nil {
		return &failure{expected: "SUBSCRIBE_OK", received: received(ctx, err), message: "subscriber: " + err.Error()}
	}
	if !isSubscribeOK(resp) {
		return &failure{expected: "SUBSCRIBE_OK", received: messageName(resp, sub.version), message: "subscriber: subscription refused: " + describe(resp, sub.version)}
	}
	// The relay may answer from its own state before or without asking the
	// publisher; the case does not require the forwarded SUBSCRIBE, but the
	// trace says whether it came.
	waitCtx, cancel := context.WithTimeout(ctx, forwardWait)
	forwarded := pub.awaitSubscription(waitCtx)
	cancel()
	c.trace.logf("publisher", "SUBSCRIBE forwarded by the relay within %v: %v", forwardWait, forwarded)
	if err := sub.close(); err != nil {
		return err
	}
	return pub.close()
}

// subscribeBeforeAnnounce: the subscriber subscribes first; the publisher
// announces 500 ms later. SUBSCRIBE_OK (the relay held the subscription) and
// REQUEST_ERROR (it did not) both pass; silence does not.
func subscribeBeforeAnnounce(ctx context.Context, c *caseRun) error {
	start := time.Now()
	sub, err := c.connect(ctx, "subscriber")
	if err != nil {
		return err
	}
	req, err := sub.subscribe(ctx, testNamespace, testTrack)
	if err != nil {
		return err
	}
	type answer struct {
		resp any
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := req.response(ctx)
		answered <- answer{resp, err}
	}()

	pubErr := func() error {
		if err := sleepCtx(ctx, publisherDelay-time.Since(start)); err != nil {
			return err
		}
		pub, _, err := announce(ctx, c, "publisher")
		if err != nil {
			return err
		}
		a := <-answered
		answered <- a // keep it for the subscriber's verdict below
		return pub.close()
	}()
	a := <-answered
	if a.err != nil {
		return &failure{expected: "SUBSCRIBE_OK or REQUEST_ERROR", received: received(ctx, a.err), message: "subscriber: " + a.err.Error()}
	}
	if pubErr != nil {
		return pubErr
	}
	if !isSubscribeOK(a.resp) && !isRequestError(a.resp) {
		return &failure{expected: "SUBSCRIBE_OK or REQUEST_ERROR", received: messageName(a.resp, sub.version), message: "subscriber: " + describe(a.resp, sub.version)}
	}
	c.trace.logf("subscriber", "answered with %s", describe(a.resp, sub.version))
	return sub.close()
}

// announce connects as role and publishes the test namespace, waiting for
// REQUEST_OK. The two seconds the case allows start when PUBLISH_NAMESPACE
// is sent.
func announce(ctx context.Context, c *caseRun, role string) (*session, *request, error) {
	connectCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	s, err := c.connect(connectCtx, role)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	who := ""
	if role != "" {
		who = role + ": "
	}
	answerCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := s.publishNamespace(answerCtx, testNamespace)
	if err != nil {
		return nil, nil, err
	}
	resp, err := req.response(answerCtx)
	if err != nil {
		return nil, nil, &failure{expected: "PUBLISH_NAMESPACE_OK", received: received(answerCtx, err), message: who + err.Error()}
	}
	if !isRequestOK(resp) {
		return nil, nil, &failure{expected: "PUBLISH_NAMESPACE_OK", received: messageName(resp, s.version), message: who + "namespace refused: " + describe(resp, s.version)}
	}
	return s, req, nil
}

// received names what came instead of an answer.
func received(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "timeout"
	}
	return "error"
}

// sleepCtx waits d (nothing when d <= 0) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
