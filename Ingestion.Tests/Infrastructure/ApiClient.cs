using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Ingestion.Tests.Infrastructure;

/// <summary>What a client of the API does, in a line each.</summary>
public static class ApiClient
{
    public static async Task<HttpResponseMessage> UploadCsvAsync(this HttpClient client, string dataset, byte[] csv,
        string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/datasets/{dataset}/uploads")
        {
            Content = new ByteArrayContent(csv),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    /// <summary>Uploads and returns the job id, failing the test unless the API answers 202.</summary>
    public static async Task<Guid> StartUploadAsync(this HttpClient client, string dataset, byte[] csv)
    {
        using var response = await client.UploadCsvAsync(dataset, csv);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    public static async Task<JsonNode> GetJsonAsync(this HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.IsSuccessStatusCode, Is.True, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    /// <summary>
    /// Polls the job until its status is one of <paramref name="statuses"/>. A job started on
    /// the bus may not exist yet at first: 404 is polled through too.
    /// </summary>
    public static async Task<JsonNode> WaitForJobAsync(this HttpClient client, Guid jobId, TimeSpan timeout, params string[] statuses)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "never found";
        do
        {
            using var response = await client.GetAsync($"/v1/jobs/{jobId}");
            last = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                var job = JsonNode.Parse(last)!;
                if (statuses.Contains(job["status"]!.GetValue<string>()))
                {
                    return job;
                }
            }
            else if (response.StatusCode != System.Net.HttpStatusCode.NotFound)
            {
                Assert.Fail($"GET /v1/jobs/{jobId}: {(int)response.StatusCode} {last}");
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"Job {jobId} did not reach {string.Join("/", statuses)} within {timeout}: {last}");
        return null!;
    }

    public static Task<JsonNode> WaitForJobEndAsync(this HttpClient client, Guid jobId, int seconds = 60) =>
        client.WaitForJobAsync(jobId, TimeSpan.FromSeconds(seconds), "completed", "ready", "failed", "cancelled");

    public static async Task<JsonNode> ProblemAsync(this HttpResponseMessage response)
    {
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"),
            "errors are RFC 9457 problem responses");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }
}
