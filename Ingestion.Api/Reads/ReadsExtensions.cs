using Microsoft.Extensions.Options;
using Ingestion.Platform.Hosting;

namespace Ingestion.Api.Reads;

public static class ReadsExtensions
{
    /// <summary>The read API: its options, its own data source (<c>ConnectionStrings:Read</c>), cursors and budgets.</summary>
    public static WebApplicationBuilder AddIngestionReads(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ReadOptions>(ReadOptions.Section)
            .Validate(o => o.ExportsInFlight < o.MaxConnections,
                "Reads:ExportsInFlight must be below Reads:MaxConnections: each export holds a read connection for its whole length, " +
                "and pages and summaries need the rest.")
            .Validate(o => o.ExportsInFlightPerTenant * 2 < o.ExportsInFlight,
                "Reads:ExportsInFlightPerTenant must be less than half of Reads:ExportsInFlight, so that two tenants' exports " +
                "never take them all.")
            .Validate(o => o.ConcurrentReadsPerTenant + o.ExportsInFlight - o.ExportsInFlightPerTenant < o.MaxConnections,
                "Reads:ConcurrentReadsPerTenant plus the exports of other tenants (Reads:ExportsInFlight minus " +
                "Reads:ExportsInFlightPerTenant) must be below Reads:MaxConnections, so that one tenant's slow reads and the " +
                "others' exports together leave connections for the others' pages.")
            .Validate(o => o.WarmConnections <= o.MaxConnections,
                "Reads:WarmConnections must not be above Reads:MaxConnections: the pool never holds more.");
        builder.Services.AddSingleton(sp => ReadDatabase.Create(builder.Configuration, sp.GetRequiredService<ILoggerFactory>(),
            builder.Environment.ApplicationName, sp.GetRequiredService<IOptions<ReadOptions>>().Value));
        builder.Services.AddHostedService<ReadPoolWarmUp>();
        builder.Services.AddSingleton<ReadCatalog>();
        builder.Services.AddSingleton<RowCursor>();
        builder.Services.AddSingleton<ReadBudget>();
        return builder;
    }

    /// <summary>Spends the tenant's read budget (the one <see cref="ReadBudget"/> of the process) before the handler runs.</summary>
    public static TBuilder WithReadBudget<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter((context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<ReadBudget>().InvokeAsync(context, next));
}
