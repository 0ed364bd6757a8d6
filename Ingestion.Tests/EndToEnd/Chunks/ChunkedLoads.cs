using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>What the chunk tests share: a dataset on a deployment, a load, and what a user compares.</summary>
internal static class ChunkedLoads
{
    public static async Task CreateDatasetAsync(HttpClient client, string name, object[] columns, string[]? key = null,
        string? onKeyConflict = null)
    {
        using var response = await client.PostAsJsonAsync("/v1/datasets", new { name, columns, key, onKeyConflict });
        Assert.That(response.IsSuccessStatusCode, Is.True, await response.Content.ReadAsStringAsync());
    }

    public static async Task<JsonNode> LoadAsync(HttpClient client, string dataset, byte[] csv, int seconds = 120)
    {
        var job = await client.WaitForJobEndAsync(await client.StartUploadAsync(dataset, csv), seconds);
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        return job;
    }

    /// <summary>The job's rejects as a user reads them from its file: none when it has no file.</summary>
    public static async Task<List<RejectRow>> RejectsAsync(JsonNode job) =>
        job["rejects"]?["url"]?.GetValue<string>() is { } url ? await Rejects.DownloadAsync(url) : [];

    public static Task<long> ChunksAsync(Deployment deployment, Guid jobId) =>
        deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunks where job_id = @id", ("id", jobId));
}
