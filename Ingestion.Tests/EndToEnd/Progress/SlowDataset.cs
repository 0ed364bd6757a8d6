using System.Net.Http.Json;
using System.Text;

namespace Ingestion.Tests.EndToEnd.Progress;

/// <summary>
/// A dataset whose every batch takes a set time to commit (a statement trigger sleeps), so a
/// job of a known size runs long enough to be watched, cancelled or reconnected to.
/// </summary>
internal static class SlowDataset
{
    /// <param name="withNote">A second column, <c>note</c> (text), for rows as long as a test needs.</param>
    public static async Task<string> CreateAsync(HttpClient client, string tenant, int millisecondsPerBatch, bool withNote = false)
    {
        var name = "slow_" + Guid.NewGuid().ToString("N")[..8];
        var entry = new { name = "entry", type = "integer", required = true };
        (await client.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = withNote ? new[] { entry, new { name = "note", type = "text", required = false } } : new[] { entry },
            key = new[] { "entry" },
        })).EnsureSuccessStatusCode();
        await TestRun.Shared.Sandbox.ExecuteAsync($"""
            create function tenant_{tenant}.{name}_slow() returns trigger language plpgsql as $$
            begin
                perform pg_sleep({millisecondsPerBatch / 1000.0:0.000});
                return null;
            end $$;
            create trigger slow after insert on tenant_{tenant}.{name}
                for each statement execute function tenant_{tenant}.{name}_slow();
            """);
        return name;
    }

    /// <summary>Rows numbered from <paramref name="first"/>: tests that share a dataset load distinct keys.</summary>
    public static byte[] Rows(int count, int first)
    {
        var csv = new StringBuilder("entry\n");
        for (var i = first; i < first + count; i++)
        {
            csv.Append(i).Append('\n');
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }
}
