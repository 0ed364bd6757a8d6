using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// Declarations of the simulator's events as a source and the dataset it loads into, as a client
/// would send them; JSON objects, so a test can change one field and see what the API says.
/// Shared with the benchmarks (no NUnit here).
/// </summary>
public static class TestSources
{
    /// <summary>The dataset the simulator's events fit: its id is the key, its timestamp the high-water mark.</summary>
    public static JsonObject EventsDataset(string name) => Json(new
    {
        name,
        columns = new object[]
        {
            new { name = "id", type = "uuid" },
            new { name = "type", type = "text", required = true },
            new { name = "occurred_at", type = "timestamptz", required = true },
            new { name = "user_id", type = "text" },
            new { name = "session_id", type = "text" },
            new { name = "value", type = "numeric(12,2)" },
        },
        key = new[] { "id" },
        onKeyConflict = "upsert",
    });

    /// <summary>The simulator's <c>/v1/events</c>: cursor pagination, bearer auth, 10 requests a minute (its default).</summary>
    public static JsonObject Events(string name, string dataset, Uri baseUrl, string secret = SimulatorConfig.Key) => Json(new
    {
        name,
        dataset,
        request = new { baseUrl = baseUrl.ToString(), path = "/v1/events" },
        auth = new { @in = "header", name = "Authorization", prefix = "Bearer ", secret },
        pagination = new
        {
            style = "cursor",
            cursorPath = "$.meta.next_cursor",
            cursorParameter = "cursor",
            hasMorePath = "$.meta.has_more",
            limitParameter = "limit",
            pageSize = 5000,
        },
        records = new
        {
            path = "$.data",
            fields = new Dictionary<string, string>
            {
                ["id"] = "$.id",
                ["type"] = "$.type",
                ["occurred_at"] = "$.timestamp",
                ["user_id"] = "$.user.id",
                ["session_id"] = "$.session_id",
                ["value"] = "$.value",
            },
            totalPath = "$.meta.total",
        },
        rateLimit = new { policies = new[] { new { requests = 10, perSeconds = 60 } } },
        incremental = new { column = "occurred_at", sinceParameter = "since", untilParameter = "until", format = "iso8601" },
    });

    /// <summary>Registers the dataset and the source; throws (failing the test or benchmark) unless both are created.</summary>
    public static async Task RegisterAsync(HttpClient client, JsonObject dataset, JsonObject source)
    {
        await PostAsync(client, "/v1/datasets", dataset);
        await PostAsync(client, "/v1/sources", source);
    }

    private static async Task PostAsync(HttpClient client, string path, JsonObject body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        if ((int)response.StatusCode != 201)
        {
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static JsonObject Json(object value) => JsonNode.Parse(JsonSerializer.Serialize(value))!.AsObject();
}
