using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Reads;

/// <summary>
/// How many exports (NDJSON or CSV, which stream a whole selection and hold a read connection from their first row to
/// their last) run at once on this API instance: <see cref="ReadOptions.ExportsInFlight"/> in all, and
/// <see cref="ReadOptions.ExportsInFlightPerTenant"/> for one tenant. Below the read pool's size, so that however many
/// exports are asked for, pages and summaries still find a connection; an export over the limit is refused at once,
/// before it takes a connection for its rows (429 for the tenant's own limit, 503 for the instance's), with
/// <c>Retry-After</c>.
/// </summary>
public sealed class ExportSlots(int inFlight, int perTenant)
{
    /// <summary>An export is long: a client retrying sooner would only be refused again.</summary>
    private const int RetryAfterSeconds = 5;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _tenants = new(StringComparer.Ordinal);
    private int _running;

    /// <summary>A place for the tenant's export, to dispose when it ends; or the problem to answer instead.</summary>
    public (IDisposable? Lease, ProblemHttpResult? Refused) TryEnter(HttpContext context, string tenantId)
    {
        lock (_lock)
        {
            var tenant = _tenants.GetValueOrDefault(tenantId);
            if (tenant < perTenant && _running < inFlight)
            {
                _tenants[tenantId] = tenant + 1;
                _running++;
                return (new Lease(this, tenantId), null);
            }

            // Not an answer about the dataset: no tag to revalidate (a 304 would keep the refusal), nothing to store.
            var headers = context.Response.Headers;
            headers.Remove("ETag");
            headers.CacheControl = "no-store";
            headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return tenant >= perTenant
                ? (null, TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many exports at once",
                    detail: $"A tenant may run {perTenant} exports (NDJSON or CSV) at a time on each API instance; try again in " +
                            $"{RetryAfterSeconds} seconds, or once one of them has finished. JSON pages are not limited by this.",
                    extensions: new Dictionary<string, object?>
                    {
                        ["exportsInFlightPerTenant"] = perTenant,
                        ["retryAfterSeconds"] = RetryAfterSeconds,
                    }))
                : (null, TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many exports on this instance",
                    detail: $"This API instance runs {inFlight} exports (NDJSON or CSV) at a time; try again in {RetryAfterSeconds} seconds.",
                    extensions: new Dictionary<string, object?>
                    {
                        ["exportsInFlight"] = inFlight,
                        ["retryAfterSeconds"] = RetryAfterSeconds,
                    }));
        }
    }

    private void Leave(string tenantId)
    {
        lock (_lock)
        {
            _running--;
            if (--_tenants[tenantId] == 0)
            {
                _tenants.Remove(tenantId);
            }
        }
    }

    private sealed class Lease(ExportSlots slots, string tenantId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                slots.Leave(tenantId);
            }
        }
    }
}
