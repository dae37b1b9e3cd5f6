#!/usr/bin/env python3
"""Calibrates ApproxTokenCount (src/text/chunker.cpp) against bert-base-uncased WordPiece.

Implements BERT's basic tokenizer (lower case, strip accents, split punctuation) and greedy
longest-match WordPiece over ../shared/data/tokenizers/bert-base-uncased/vocab.txt, counts the
tokens of every Cranfield document (title + "\n\n" + text, as the BEIR loader builds it), and
compares them with the approximation "a word of L characters = 1 token if L <= WHOLE, else
1 + ceil((L - WHOLE) / STEP); a punctuation mark = 1 token" for several WHOLE/STEP pairs.
Run: python3 tests/data/text/calibrate_approx_tokens.py (from the repository root).
"""
import json, os, unicodedata, sys
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/data")
vocab = set(l.rstrip('\n') for l in open(SHARED + '/tokenizers/bert-base-uncased/vocab.txt', encoding='utf-8'))
def is_punct(ch):
    cp = ord(ch)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126): return True
    return unicodedata.category(ch).startswith('P')
def basic(text):
    text = unicodedata.normalize('NFD', text.lower())
    text = ''.join(c for c in text if unicodedata.category(c) != 'Mn')
    out=[]; cur=''
    for ch in text:
        if ch.isspace():
            if cur: out.append(cur); cur=''
        elif is_punct(ch):
            if cur: out.append(cur); cur=''
            out.append(ch)
        else: cur+=ch
    if cur: out.append(cur)
    return out
def wp(word):
    if len(word) > 100: return 1
    n=0; start=0
    while start < len(word):
        end=len(word); found=False
        while start < end:
            sub = word[start:end]
            if start>0: sub='##'+sub
            if sub in vocab: found=True; break
            end-=1
        if not found: return 1
        n+=1; start=end
    return n
docs=[json.loads(l) for l in open(SHARED + '/cranfield/corpus.jsonl')]
words=[]
real=0
for d in docs:
    t=(d['title']+'\n\n'+d['text']) if d['title'] else d['text']
    for w in basic(t):
        c = 1 if (len(w)==1 and is_punct(w)) else wp(w)
        real+=c; words.append((w,c))
print('real tokens', real, 'words', len(words))
import collections
for whole in range(3,11):
    for step in range(3,9):
        approx=0
        for w,c in words:
            L=len(w)
            if len(w)==1 and is_punct(w): approx+=1; continue
            approx += 1 if L<=whole else 1+ (L-whole+step-1)//step
        print(whole, step, approx, round(approx/real,3))
print('---per doc')
perdoc=[]
for d in docs:
    t=(d['title']+'\n\n'+d['text']) if d['title'] else d['text']
    perdoc.append([(w, 1 if (len(w)==1 and is_punct(w)) else wp(w)) for w in basic(t)])
for whole,step in [(6,6),(7,5),(8,4),(8,5),(9,4),(9,5),(6,4),(7,4),(5,5)]:
    under=0; worst=0; tot=0; ta=0
    for ws in perdoc:
        r=sum(c for _,c in ws); a=0
        for w,c in ws:
            L=len(w)
            if len(w)==1 and is_punct(w): a+=1; continue
            a += 1 if L<=whole else 1+(L-whole+step-1)//step
        if r==0: continue
        tot+=r; ta+=a
        if a<r: under+=1
        worst=max(worst, r/a)
    print(whole, step, 'ratio', round(ta/tot,3), 'docs under', under, 'worst real/approx', round(worst,3))
