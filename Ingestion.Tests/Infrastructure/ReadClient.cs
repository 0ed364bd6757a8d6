using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Ingestion.Tests.Infrastructure;

/// <summary>What a client of the read API does, in a line each.</summary>
public static class ReadClient
{
    /// <summary>Registers a dataset and fails the test unless it is created.</summary>
    public static async Task CreateDatasetAsync(this HttpClient client, object definition)
    {
        using var response = await client.PostAsJsonAsync("/v1/datasets", definition);
        Assert.That((int)response.StatusCode, Is.EqualTo(201), await response.Content.ReadAsStringAsync());
    }

    /// <summary>Uploads a CSV and waits until the job completes.</summary>
    public static async Task LoadAsync(this HttpClient client, string dataset, byte[] csv, int seconds = 120)
    {
        var job = await client.WaitForJobEndAsync(await client.StartUploadAsync(dataset, csv), seconds);
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]?["rowsRejected"]?.GetValue<long>() ?? 0, Is.Zero, job.ToJsonString());
    }

    public static async Task<HttpResponseMessage> ReadAsync(this HttpClient client, string path, string? accept = null,
        string? ifNoneMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null)
        {
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        }

        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>Follows <c>next</c> from <paramref name="path"/> to the last page; every row of every page, in order.</summary>
    public static async Task<List<JsonObject>> ReadAllPagesAsync(this HttpClient client, string path, string rows = "rows",
        Func<Task>? betweenPages = null)
    {
        var all = new List<JsonObject>();
        string? next = path;
        while (next is not null)
        {
            var page = await client.GetJsonAsync(next);
            all.AddRange(page[rows]!.AsArray().Select(r => r!.AsObject()));
            next = page["next"]?.GetValue<string>();
            if (betweenPages is not null)
            {
                await betweenPages();
            }
        }

        return all;
    }

    public static byte[] Csv(string header, IEnumerable<string> rows)
    {
        var text = new StringBuilder(header).Append('\n');
        foreach (var row in rows)
        {
            text.Append(row).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
