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

    /// <summary>Waits until a job's chunks have loaded at least <paramref name="atLeast"/> rows between them: when a kill test kills.</summary>
    public static async Task WaitForChunkRowsAsync(Deployment deployment, Guid jobId, long atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var loaded = await deployment.Sandbox.ScalarAsync<long?>(
                "select sum(rows_loaded)::bigint from ingestion.upload_chunks where job_id = @id", ("id", jobId)) ?? 0;
            if (loaded >= atLeast)
            {
                return;
            }

            await Task.Delay(5);
        }

        Assert.Fail($"fewer than {atLeast} rows were loaded within 120 s");
    }

    /// <summary>What a user counts to see nothing lost and nothing doubled: rows, distinct ids, the highest id.</summary>
    public static async Task<(long Count, long Distinct, long Max)> IdCountsAsync(Deployment deployment, string dataset)
    {
        await using var command = deployment.Sandbox.Db.CreateCommand(
            $"select count(*), count(distinct id), coalesce(max(id), 0) from tenant_acme.{dataset}");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    public static Task<long> ChunksAsync(Deployment deployment, Guid jobId) =>
        deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunks where job_id = @id", ("id", jobId));
}
