module github.com/futuresgen/futuresgen/dashboard/browsertest

go 1.25

replace github.com/futuresgen/futuresgen => ../..

require (
	github.com/chromedp/chromedp v0.23.1
	github.com/futuresgen/futuresgen v0.0.0-00010101000000-000000000000
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)
