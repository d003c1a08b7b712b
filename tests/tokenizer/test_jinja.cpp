// The Jinja subset on small templates whose expected output was taken from jinja2 3.1 with
// transformers' environment (trim_blocks, lstrip_blocks, loopcontrols, its tojson).
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace glmq::test {
namespace {

std::string render(const std::string& source, OrderedJson extra = OrderedJson::object()) {
  ChatRequest request;
  request.extra = std::move(extra);
  return ChatTemplate(source, TokenizerConfig{}).render(request);
}

TEST(Jinja, LoopBodyAssignmentsDoNotLeakOrPersist) {
  EXPECT_EQ(render("{% for i in [1,2,3] %}[{{ x }}]{% if i == 1 %}{% set x = i %}{% endif %}{% endfor %}"), "[][][]");
  EXPECT_EQ(render("{% set x = 5 %}{% for i in [1,2,3] %}[{{ x }}]{% if i == 1 %}{% set x = i %}{% endif %}{% endfor %}{{x}}"),
            "[5][5][5]5");
}

TEST(Jinja, MacrosSeeTheirDefiningScopeLive) {
  EXPECT_EQ(render("{% set y = 7 %}{% macro m() %}{{ y }}{% endmacro %}{% set y = 8 %}{{ m() }}"), "8");
  EXPECT_EQ(render("{% macro m() %}{{ z }}{% endmacro %}{% for z in [1] %}{{ m() }}{% endfor %}"), "");
  EXPECT_EQ(render("{% macro add(a, b=2) %}{{ a + b }}{% endmacro %}{{ add(1) }}{{ add(1, b=5) }}"), "36");
}

TEST(Jinja, PythonValueFormatting) {
  EXPECT_EQ(render("{{ x }}|{{ none }}|{{ [1,'a',none,true,1.5] }}|{{ {'a':1} }}"), "|None|[1, 'a', None, True, 1.5]|{'a': 1}");
  EXPECT_EQ(render("{{ 1e16 }} {{ 0.1+0.2 }} {{ 3/2 }} {{ 4/2 }} {{ 7//2 }} {{ -7 % 3 }} {{ 2**10 }}"),
            "1e+16 0.30000000000000004 1.5 2.0 3 2 1024");
  EXPECT_EQ(render("{{ 'abc'[::-1] }} {{ 'a b  c'.split() }} {{ 'a,b'.split(',') }}"), "cba ['a', 'b', 'c'] ['a', 'b']");
  EXPECT_EQ(render("{{ true }} {{ True }} {{ none is none }} {{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }}"),
            "True True True d  d");
}

TEST(Jinja, NamespaceAndLoopVariables) {
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }} {{ ns }}"),
            "4 <Namespace {'a': 4}>");
  EXPECT_EQ(render("{% for i in [1,2] %}{{ loop.previtem }}{{ loop.nextitem }}{% endfor %}"), "21");
  EXPECT_EQ(render("{% for i in 'abc' if i != 'b' %}{{ loop.index }}{{ i }}{{ loop.last }}{% else %}E{% endfor %}"),
            "1aFalse2cTrue");
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"),
            "02");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n{# c #}\nz"), "  x\n  y\nz");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c\n"), "abc");
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");
  EXPECT_EQ(render("{% raw %}{{ not }}{% endraw %}"), "{{ not }}");
}

TEST(Jinja, TojsonLikeTransformers) {
  EXPECT_EQ(render("{{ {'b':1,'a':[1,2.0,'x\u00e9\"']}|tojson }}"), "{\"b\": 1, \"a\": [1, 2.0, \"x\u00e9\\\"\"]}");
  EXPECT_EQ(render("{{ 'é'|tojson(ensure_ascii=True) }}"), "\"\\u00e9\"");
  EXPECT_EQ(render("{{ {'b':1,'a':2}|tojson(indent=2, sort_keys=true) }}"), "{\n  \"a\": 2,\n  \"b\": 1\n}");
}

TEST(Jinja, FiltersTestsAndMethods) {
  EXPECT_EQ(render("{{ '  x '|trim }}|{{ [3,1,2]|sort|join(',') }}|{{ {'a':1}|items|list }}|{{ 'ab'|upper }}|{{ [1,2]|length }}"),
            "x|1,2,3|[('a', 1)]|AB|2");
  EXPECT_EQ(render("{{ 'Hello'.startswith('He') }} {{ 'x.py'.endswith(('.py', '.c')) }} {{ '--a--'.strip('-') }} {{ 'aXa'.replace('a','b') }}"),
            "True True a bXb");
  EXPECT_EQ(render("{{ x is defined }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} {{ 4 is divisibleby 2 }}"),
            "False True True True True True");
  EXPECT_EQ(render("{{ [{'n':'a','k':1},{'n':'b','k':0}]|selectattr('k')|map(attribute='n')|list }}"), "['a']");
  EXPECT_EQ(render("{{ 'a' if false }}|{{ 1 if true else 2 }}|{{ 1 < 2 < 3 }}|{{ 'b' in 'abc' }}|{{ 2 not in [1] }}"), "|1|True|True|True");
  EXPECT_EQ(render("{{ enable_thinking }}", {{"enable_thinking", false}}), "False");
}

TEST(Jinja, ErrorsAreClear) {
  auto expect_error = [](const std::string& source, ErrorKind kind, const std::string& fragment) {
    try {
      render(source);
      ADD_FAILURE() << "no error for " << source;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("{{ raise_exception('bad role') }}", ErrorKind::InvalidArgument, "bad role");
  expect_error("{{ x.y }}", ErrorKind::InvalidArgument, "'x' is undefined");
  expect_error("{{ x + 'a' }}", ErrorKind::InvalidArgument, "unsupported operand");
  expect_error("{{ [1].append(2) }}", ErrorKind::InvalidArgument, "unsafe");
  expect_error("{% if x %}", ErrorKind::Config, "endif");
  expect_error("{{ x | nosuchfilter }}", ErrorKind::Config, "no filter named");
  expect_error("{% include 'x' %}", ErrorKind::Config, "unsupported or unknown tag");
  expect_error("{{ 'abc }}", ErrorKind::Config, "unterminated string");
  expect_error("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", ErrorKind::InvalidArgument, "nested too deeply");
}

}  // namespace
}  // namespace glmq::test
