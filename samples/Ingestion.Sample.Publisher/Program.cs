using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Ingestion.Sample.Publisher;

// appsettings.json beside the binary, wherever it is started from; environment variables override it.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddSampleSettings();
builder.AddIngestionClient();
builder.Services.AddHostedService<PublisherFlow>();
await builder.Build().RunAsync();
