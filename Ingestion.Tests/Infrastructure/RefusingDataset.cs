using System.Net.Http.Json;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A dataset of one integer column, <c>entry</c>, whose inserts PostgreSQL refuses for the entries
/// listed in <c>{name}_refusals</c>: a cause of failure that a test puts in and takes away.
/// </summary>
public static class RefusingDataset
{
    /// <param name="message">The refusal's text; the refused entry follows it.</param>
    /// <param name="keyed">Whether <c>entry</c> is the dataset's key.</param>
    public static async Task CreateAsync(HttpClient tenant, Sandbox sandbox, string tenantId, string name, string message,
        bool keyed = false)
    {
        var columns = new[] { new { name = "entry", type = "integer", required = true } };
        using var created = keyed
            ? await tenant.PostAsJsonAsync("/v1/datasets", new { name, columns, key = new[] { "entry" } })
            : await tenant.PostAsJsonAsync("/v1/datasets", new { name, columns });
        created.EnsureSuccessStatusCode();
        await sandbox.ExecuteAsync($"""
            create table tenant_{tenantId}.{name}_refusals (entry integer primary key);
            create function tenant_{tenantId}.{name}_refuse() returns trigger language plpgsql as $$
            begin
                if exists (select 1 from tenant_{tenantId}.{name}_refusals r where r.entry = new.entry) then
                    raise exception '{message} %', new.entry;
                end if;
                return new;
            end $$;
            create trigger refuse before insert on tenant_{tenantId}.{name}
                for each row execute function tenant_{tenantId}.{name}_refuse();
            """);
    }
}
