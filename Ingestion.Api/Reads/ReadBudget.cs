using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using Ingestion.Api.Security;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Reads;

/// <summary>
/// Each tenant's read budget, a token bucket (<see cref="ReadBudgetOptions"/>), so that one
/// tenant's end users cannot starve the others or the loads. Every read answer says where the
/// tenant stands with the IETF fields (draft-ietf-httpapi-ratelimit-headers):
/// <c>RateLimit-Policy: "reads";q=1000;w=1</c> and <c>RateLimit: "reads";r=998;t=0</c>; a read
/// over budget is a 429 with <c>Retry-After</c>, refused before any database work.
/// <para>
/// A budget bounds how often, not how long: reads that each take seconds could hold every connection of the read pool
/// within it. So a tenant also runs at most <see cref="ReadOptions.ConcurrentReadsPerTenant"/> reads at once on an
/// instance; the next ones queue, and one that waited <see cref="ReadOptions.ConnectionWait"/> is a 429 with
/// <c>Retry-After: 1</c>. The other tenants keep the rest of the pool.
/// </para>
/// </summary>
public sealed class ReadBudget(IOptions<ReadOptions> options) : IEndpointFilter, IDisposable
{
    private const string Policy = "reads";

    // Lazy: GetOrAdd may run its factory on several threads for a tenant's first reads and keep
    // one result; a limiter built and dropped that way would never be disposed, and its replenish
    // timer would live as long as the process. Only the Lazy that wins is ever evaluated.
    // The policy header is the same on every answer to a tenant: made with its limiter, not per read.
    private readonly ConcurrentDictionary<string, Lazy<TenantReads>> _tenants = new();

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var tenant = Caller.From(http.User).TenantId;
        if (tenant is null)
        {
            return await next(context);
        }

        var reads = _tenants.GetOrAdd(tenant, t => new Lazy<TenantReads>(() => Create(t))).Value;
        var (limiter, budget, policy) = (reads.Budget, reads.Options, reads.PolicyHeader);
        using var lease = limiter.AttemptAcquire();
        var left = limiter.GetStatistics()?.CurrentAvailablePermits ?? 0;
        var headers = http.Response.Headers;
        headers["RateLimit-Policy"] = policy;
        if (lease.IsAcquired)
        {
            headers["RateLimit"] = $"\"{Policy}\";r={left};t=0";
            return await RunAsync(context, next, reads.Running);
        }

        // Tokens come back at PerSecond; the next one is at most this far away.
        var wait = Math.Max(1, (int)Math.Ceiling(1.0 / budget.PerSecond));
        var seconds = wait.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit"] = $"\"{Policy}\";r=0;t={seconds}";
        headers.RetryAfter = seconds;
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Read budget spent",
            detail: $"This tenant may read {budget.PerSecond} times a second (bursts of {budget.Burst}); try again in {seconds} s.",
            extensions: new Dictionary<string, object?> { ["readsPerSecond"] = budget.PerSecond, ["retryAfterSeconds"] = wait });
    }

    /// <summary>Runs the read once the tenant has fewer than its limit running; a 429 if none ends within the wait.</summary>
    private async ValueTask<object?> RunAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next,
        ConcurrencyLimiter limiter)
    {
        var running = limiter.AttemptAcquire();
        if (!running.IsAcquired)
        {
            running.Dispose();
            running = await WaitAsync(limiter, context.HttpContext.RequestAborted);
        }

        using (running)
        {
            if (running.IsAcquired)
            {
                return await next(context);
            }
        }

        // Not the budget's refusal: its fields would say there is quota left and no wait.
        context.HttpContext.Response.Headers.Remove("RateLimit");
        context.HttpContext.Response.Headers.RetryAfter = "1";
        var most = options.Value.ConcurrentReadsPerTenant;
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many reads at once",
            detail: $"This tenant may run {most} reads at once on each API instance, and none of its running reads ended within " +
                    $"{options.Value.ConnectionWait.TotalSeconds:0.#} s; try again in a second.",
            extensions: new Dictionary<string, object?> { ["concurrentReadsPerTenant"] = most, ["retryAfterSeconds"] = 1 });
    }

    /// <summary>Waits in the tenant's queue up to <see cref="ReadOptions.ConnectionWait"/>; a lease not acquired when the wait runs out.</summary>
    private async Task<RateLimitLease> WaitAsync(ConcurrencyLimiter limiter, CancellationToken aborted)
    {
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        waiting.CancelAfter(options.Value.ConnectionWait);
        try
        {
            return await limiter.AcquireAsync(1, waiting.Token);
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            return FailedLease.Instance;
        }
    }

    public void Dispose()
    {
        foreach (var tenant in _tenants.Values.Where(t => t.IsValueCreated))
        {
            tenant.Value.Budget.Dispose();
            tenant.Value.Running.Dispose();
        }
    }

    private TenantReads Create(string tenant)
    {
        var budget = options.Value.Budget.Tenants.GetValueOrDefault(tenant) ?? options.Value.Budget;
        return new TenantReads(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = budget.Burst,
            TokensPerPeriod = budget.PerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            AutoReplenishment = true,
            QueueLimit = 0,
        }), new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            // Its queue holds a burst of the tenant's budget: every read the budget lets through may wait its turn.
            PermitLimit = options.Value.ConcurrentReadsPerTenant,
            QueueLimit = budget.Burst,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        }), budget, $"\"{Policy}\";q={budget.PerSecond};w=1;burst={budget.Burst}");
    }

    /// <summary>A tenant's read budget, its reads running at once, its budget's settings and the policy header they make.</summary>
    private sealed record TenantReads(TokenBucketRateLimiter Budget, ConcurrencyLimiter Running, ReadBudgetOptions Options,
        string PolicyHeader);
}

/// <summary>A lease not granted: the wait for one ran out.</summary>
internal sealed class FailedLease : RateLimitLease
{
    public static readonly FailedLease Instance = new();

    public override bool IsAcquired => false;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }
}
