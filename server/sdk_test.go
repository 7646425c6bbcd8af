package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOpenAISDK drives the server with the official openai-go client: a plain completion, a
// stream with usage, and an error.
func TestOpenAISDK(t *testing.T) {
	_, hs := newTestServer(t, Config{APIKey: "k"})
	client := openai.NewClient(option.WithBaseURL(hs.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.CompletionNewParams{Model: "latent-default",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("1234=")},
		MaxTokens: openai.Int(6), Temperature: openai.Float(0)}
	plain, err := client.Completions.New(ctx, params, option.WithJSONSet("num_steps", 8))
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Choices) != 1 || plain.Usage.CompletionTokens == 0 || plain.Usage.CompletionTokens > 6 {
		t.Fatalf("plain: %+v", plain)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Completions.NewStreaming(ctx, params, option.WithJSONSet("num_steps", 8))
	var text strings.Builder
	var usage openai.CompletionUsage
	for stream.Next() {
		chunk := stream.Current()
		for _, c := range chunk.Choices {
			text.WriteString(c.Text)
		}
		if chunk.Usage.TotalTokens > 0 {
			usage = chunk.Usage
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != plain.Choices[0].Text || usage.CompletionTokens != plain.Usage.CompletionTokens {
		t.Errorf("stream %q (usage %+v), plain %q (usage %+v)", text.String(), usage, plain.Choices[0].Text, plain.Usage)
	}
	_, err = client.Completions.New(ctx, params, option.WithJSONSet("criterion", "vibes"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "criterion" || apiErr.Type != "invalid_request_error" {
		t.Errorf("unknown criterion: got %v", err)
	}
}
