package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// chromium returns the path of the browser the live view test drives. On a
// machine without one the test is skipped, unless CI is set: CI installs
// Debian's chromium, and there a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found on PATH, and CI is set: install it (apt-get install chromium)")
	}
	t.Skip("chromium not found on PATH: apt-get install chromium to run the live view test (with CI set, this is a failure)")
	return ""
}

// TestLiveViewInBrowser runs the shop with its live view as `make run` does,
// on the embedded broker whatever KAFKA_BROKERS says (the page shows the
// broker's every topic and group), and drives the page in Chromium: an order
// placed through the form is followed by its correlation id over the three
// topics, and a second inventory-service shows up in inventory-service-group
// with the partitions split. Screenshots go to the test's artifact directory
// (go test -artifacts keeps them).
func TestLiveViewInBrowser(t *testing.T) {
	browser := chromium(t)
	opts := options{
		bin: binDir, grace: 20 * time.Second, env: map[string][]string{}, inventoryInstances: 1,
		kafkaAddr: servicetest.FreeAddr(t), liveAddr: servicetest.FreeAddr(t),
	}
	for _, s := range services {
		opts.env[s] = []string{"HTTP_ADDR=" + servicetest.FreeAddr(t), "SIMULATOR_INTERVAL=0"}
	}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runShop(ctx, opts, out) }()
	defer func() {
		if t.Failed() {
			t.Logf("output of the shop:\n%s", out.String())
		}
	}()
	for _, s := range services {
		url := opts.serviceURL(s, "/readyz")
		kafkatest.Eventually(t, 90*time.Second, func() bool { return httpStatus(t.Context(), http.DefaultClient, url) == http.StatusOK }, "%s not ready", url)
	}

	alloc, stopAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000))...)
	defer stopAlloc()
	page, closePage := chromedp.NewContext(alloc)
	defer closePage()
	page, stopPage := context.WithTimeout(page, 3*time.Minute)
	defer stopPage()
	// The browser starts with the first Run, and lives as long as its
	// context: start it here, not under the timeout of a step.
	if err := chromedp.Do(page); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	screenshots := t.ArtifactDir()
	t.Logf("screenshots in %s", screenshots)
	save := func(name string) error {
		png, err := chromedp.Run(page, chromedp.FullScreenshot(100))
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		return os.WriteFile(filepath.Join(screenshots, name), png, 0o600)
	}
	shot := func(name string) {
		t.Helper()
		if err := save(name); err != nil {
			t.Fatal(err)
		}
	}
	// fail reports what the page did not do, with a screenshot of it.
	fail := func(what string, err error) {
		t.Helper()
		t.Errorf("%s: %v", what, err)
		if err := save("failed.png"); err != nil {
			t.Error(err)
		}
		t.FailNow()
	}
	// Each step has a minute and a half, well over what it needs.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(page, 90*time.Second) }
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail(what, err)
		}
	}
	// poll waits until the page's expression is true.
	poll := func(what, expression string) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expression, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0))); err != nil {
			fail(what, err)
		}
	}

	do("open the live view", chromedp.Navigate("http://"+opts.liveAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#topics tr[data-topic="`+contracts.TopicNewOrder+`"]`)))

	// An order that breaks the contract: the answer names the field.
	do("place an invalid order", chromedp.SetValue(chromedp.ID("quantity1"), "0"), chromedp.Click(chromedp.CSS(`#order-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#answer [data-code="400"]`)))
	answer, err := chromedp.Run(page, chromedp.Text(chromedp.ID("answer")))
	if err != nil || !strings.Contains(answer, "products[0].quantity") {
		t.Fatalf("answer to an order of quantity 0 = %q (%v), want a 400 naming products[0].quantity", answer, err)
	}

	// 9 of PRODUCT-123 take it from 109 to 100: the order's events reach all
	// three topics.
	do("place an order", chromedp.SetValue(chromedp.ID("customer"), "CUSTOMER-BROWSER"),
		chromedp.SetValue(chromedp.ID("quantity1"), "9"), chromedp.SetValue(chromedp.ID("price1"), "90"),
		chromedp.Clear(chromedp.ID("product2")), chromedp.Clear(chromedp.ID("quantity2")), chromedp.Clear(chromedp.ID("price2")),
		chromedp.Click(chromedp.CSS(`#order-form button`)), chromedp.WaitVisible(chromedp.CSS(`#answer [data-code="202"]`)))
	orderID, err := chromedp.Run(page, chromedp.Text(chromedp.CSS(`#answer .order-id`)))
	if err != nil || !strings.HasPrefix(orderID, "ORDER-") {
		t.Fatalf("order id in the answer = %q (%v)", orderID, err)
	}
	inFlow := fmt.Sprintf(`#flow tr[data-topic=%q][data-key=%q] a[data-corr]`, contracts.TopicNewOrder, orderID)
	do("see the order in the flow and follow its correlation id", chromedp.WaitVisible(chromedp.CSS(inFlow)), chromedp.Click(chromedp.CSS(inFlow)))
	correlation, err := chromedp.Run(page, chromedp.Text(chromedp.CSS(inFlow)))
	if err != nil || correlation == "" {
		t.Fatalf("correlation id of %s in the flow = %q (%v)", orderID, correlation, err)
	}
	poll("see the order's events on all three topics", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('#trace tr[data-topic]')];
		const topics = new Set(rows.map(r => r.dataset.topic));
		return document.querySelector('#trace b')?.textContent === %q
			&& rows.some(r => r.dataset.topic === %q && r.dataset.key === %q)
			&& %s.every(t => topics.has(t));
	})()`, correlation, contracts.TopicNewOrder, orderID, jsArray(contracts.Topics())))
	poll("see the notification sent and the product refilled", fmt.Sprintf(`(() => {
		const shop = document.getElementById('shop').textContent;
		return shop.includes(%q) && shop.includes('Product PRODUCT-123 has to be REFILLED!')
			&& document.querySelector('#shop tr[data-product="PRODUCT-123"] td:last-child')?.textContent === '109';
	})()`, "Congrats CUSTOMER-BROWSER, your order "+orderID+" has been approved!"))
	shot("order-followed.png")

	// A second inventory-service, started by hand: the group shows both
	// members, each owning a part of new-order-topic's partitions.
	second, err := start(len(services)+1, "inventory-service-2", filepath.Join(binDir, "inventory-service"), nil,
		[]string{"KAFKA_BROKERS=" + opts.kafkaAddr, "HTTP_ADDR=" + servicetest.FreeAddr(t), "SIMULATOR_INTERVAL=0"},
		&lineWriter{out: out, width: len("notification-service")})
	if err != nil {
		t.Fatal(err)
	}
	stopSecond := sync.OnceValue(func() error { return second.stop(opts.grace) })
	defer stopSecond() //nolint:errcheck // stopped and checked below, unless the test failed first
	poll("see inventory-service-group with two members and the partitions split", fmt.Sprintf(`(() => {
		const g = document.querySelector('#groups [data-group="inventory-service-group"]');
		if (!g || g.dataset.members !== '2' || !g.querySelector('small').textContent.startsWith('Stable')) return false;
		const owned = [...g.querySelectorAll('[data-member]')].map(m =>
			(m.querySelector('[data-owns=%q]')?.dataset.partitions ?? '').split(' ').filter(p => p !== ''));
		const all = owned.flat();
		return owned.length === 2 && owned.every(ps => ps.length > 0) && all.length === 6 && new Set(all).size === 6;
	})()`, contracts.TopicNewOrder))
	shot("inventory-scaled.png")

	if err := stopSecond(); err != nil {
		t.Errorf("second inventory-service: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stopping the shop: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the shop did not stop")
	}
}

// jsArray writes ss as a JavaScript array literal.
func jsArray(ss []string) string {
	quoted := slices.Clone(ss)
	for i, s := range ss {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}

// TestLiveViewPortTaken checks that the shop does not start when the live
// view's port is taken, and that the error names the port and the flag.
func TestLiveViewPortTaken(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := &syncBuffer{}
	err = runShop(t.Context(), options{bin: binDir, kafkaAddr: servicetest.FreeAddr(t), liveAddr: ln.Addr().String(), grace: time.Second}, out)
	if err == nil || !strings.Contains(err.Error(), "cannot serve the live view on "+ln.Addr().String()) || !strings.Contains(err.Error(), "-live-addr") {
		t.Fatalf("runShop with the live view's port taken: %v, want an error naming the port and -live-addr", err)
	}
	if out.String() != "" {
		t.Errorf("runShop started something:\n%s", out)
	}
}
